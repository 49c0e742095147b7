/* test_pt_frame.c — the frame layer (pt_frame), plus the STREAM_OPEN address
 * codec (pt_addr) and the base64 key form (pt_key).
 *
 * The wire format is checked against an independent encoder written here
 * from the pt_frame.h description with libsodium alone (HKDF from HMAC, the
 * length mask from raw ChaCha20, Rekey from the AEAD), so a sealer and an
 * opener that agree on a wrong format still fail. Every buffer handed to
 * pt_frame_open is an exact-size heap copy: ASan reports any read past
 * |len|. Random bytes come from a seeded generator: every run is the same.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "pt_addr.h"
#include "pt_aead.h"
#include "pt_cbs.h"
#include "pt_err.h"
#include "pt_frame.h"
#include "pt_key.h"

static const pt_aead_backend BACKENDS[] = {PT_AEAD_BORINGSSL, PT_AEAD_SODIUM};
#define N_BACKENDS 2

/* ---- small helpers ---------------------------------------------------- */

/* xorshift64*: deterministic, seedable, good enough for sizes and bytes. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dULL;
}

static void rng_fill(uint64_t *s, uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)(rng_next(s) >> 32);
    }
}

static uint8_t *xmalloc(size_t n)
{
    uint8_t *p = malloc(n ? n : 1);
    assert_non_null(p);
    return p;
}

static uint8_t *dup_exact(const uint8_t *p, size_t n)
{
    uint8_t *d = xmalloc(n);
    if (n) {
        memcpy(d, p, n);
    }
    return d;
}

static void test_key(uint8_t k[32], uint8_t which)
{
    for (int i = 0; i < 32; i++) {
        k[i] = (uint8_t)(which * 31 + i * 7 + 1);
    }
}

static int setup(void **state)
{
    (void)state;
    return sodium_init() < 0 ? -1 : 0;
}

/* ---- an independent implementation of the wire format ------------------ */

static const char LABEL[] = "phantom-tunnel frame keys";

static void ref_hmac(uint8_t out[32], const uint8_t key[32], const uint8_t *a, size_t a_len,
                     const uint8_t *b, size_t b_len)
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, 32);
    crypto_auth_hmacsha256_update(&st, a, a_len);
    if (b_len) {
        crypto_auth_hmacsha256_update(&st, b, b_len);
    }
    crypto_auth_hmacsha256_final(&st, out);
}

/* Noise HKDF(ck = k, ikm = LABEL) with two outputs (rev. 34 §4.3). */
static void ref_frame_keys(const uint8_t k[32], uint8_t kd[32], uint8_t kl[32])
{
    uint8_t temp[32];
    static const uint8_t one = 1, two = 2;
    ref_hmac(temp, k, (const uint8_t *)LABEL, sizeof(LABEL) - 1, NULL, 0);
    ref_hmac(kd, temp, &one, 1, NULL, 0);
    ref_hmac(kl, temp, kd, 32, &two, 1);
}

static void ref_nonce(uint8_t nonce[12], uint64_t n)
{
    memset(nonce, 0, 12);
    for (int i = 0; i < 8; i++) {
        nonce[4 + i] = (uint8_t)(n >> (8 * i));
    }
}

/* Noise Rekey(k) = ENCRYPT(k, 2^64-1, "", zeros[32])[0..32]. */
static void ref_rekey(uint8_t k[32])
{
    uint8_t zeros[32] = {0}, out[48], nonce[12];
    ref_nonce(nonce, UINT64_MAX);
    crypto_aead_chacha20poly1305_ietf_encrypt(out, NULL, zeros, 32, NULL, 0, NULL, nonce, k);
    memcpy(k, out, 32);
}

typedef struct ref_dir {
    uint8_t kd[32], kl[32];
    uint64_t n;
} ref_dir;

static void ref_dir_init(ref_dir *r, const uint8_t k[32])
{
    ref_frame_keys(k, r->kd, r->kl);
    r->n = 0;
}

/* Builds the 7-byte header followed by payload and padding. */
static size_t ref_plain(uint8_t *out, unsigned type, uint32_t sid, unsigned plen_field,
                        unsigned pad_field, const uint8_t *payload, size_t plen, const uint8_t *pad,
                        size_t pad_len)
{
    out[0] = (uint8_t)type;
    out[1] = (uint8_t)(sid >> 16);
    out[2] = (uint8_t)(sid >> 8);
    out[3] = (uint8_t)sid;
    out[4] = (uint8_t)(plen_field >> 8);
    out[5] = (uint8_t)plen_field;
    out[6] = (uint8_t)pad_field;
    if (plen) {
        memcpy(out + 7, payload, plen);
    }
    if (pad_len) {
        memcpy(out + 7 + plen, pad, pad_len);
    }
    return 7 + plen + pad_len;
}

/* Encrypts |plain| as frame r->n with length field |len_field| (normally
 * plain_len + 16) into |out| (plain_len + 18 bytes); advances r->n. */
static size_t ref_seal(ref_dir *r, uint8_t *out, unsigned len_field, const uint8_t *plain,
                       size_t plain_len)
{
    uint8_t nonce[12], mask[2];
    ref_nonce(nonce, r->n);
    crypto_stream_chacha20_ietf(mask, 2, nonce, r->kl);
    out[0] = (uint8_t)((len_field >> 8) ^ mask[0]);
    out[1] = (uint8_t)((len_field & 0xff) ^ mask[1]);
    crypto_aead_chacha20poly1305_ietf_encrypt(out + 2, NULL, plain, plain_len, out, 2, NULL, nonce,
                                              r->kd);
    r->n++;
    return 2 + plain_len + 16;
}

/* A crafted frame in an exact-size heap buffer. */
static uint8_t *ref_frame(ref_dir *r, size_t *wire_len, unsigned type, uint32_t sid,
                          unsigned plen_field, unsigned pad_field, const uint8_t *payload,
                          size_t plen, size_t pad_len)
{
    uint8_t *plain = xmalloc(7 + plen + pad_len);
    uint8_t *pad = xmalloc(pad_len);
    memset(pad, 0x3c, pad_len ? pad_len : 1);
    size_t n = ref_plain(plain, type, sid, plen_field, pad_field, payload, plen, pad, pad_len);
    uint8_t *w = xmalloc(n + 18);
    *wire_len = ref_seal(r, w, (unsigned)(n + 16), plain, n);
    free(pad);
    free(plain);
    return w;
}

/* ---- sealing and opening helpers --------------------------------------- */

/* Seals one frame with explicit padding into an exact-size heap buffer. */
static uint8_t *seal_exact(pt_frame_dir *d, size_t *wire_len, uint8_t type, uint32_t sid,
                           const uint8_t *payload, size_t plen, const uint8_t *pad, size_t pad_len)
{
    size_t cap = PT_FRAME_OVERHEAD + plen + pad_len;
    uint8_t *w = xmalloc(cap);
    size_t wl = 0;
    int rc = pt_frame_seal_raw(d, w, cap, &wl, type, sid, payload, plen, pad, pad_len);
    if (rc != PT_ERR_OK) {
        fail_msg("seal_raw(type %u, sid %u, plen %zu, pad %zu) = %s", type, sid, plen, pad_len,
                 pt_err_name(rc));
    }
    assert_int_equal(wl, cap);
    *wire_len = wl;
    return w;
}

/* Opens a whole frame (exact-size copy); returns the result. On OK, the
 * caller gets the copy in |*copy| (payload points into it). */
static int open_copy(pt_frame_opener *o, const uint8_t *wire, size_t len, uint8_t **copy,
                     size_t *consumed, pt_frame_hdr *h, uint8_t **payload)
{
    *copy = dup_exact(wire, len);
    *consumed = 0;
    return pt_frame_open(o, *copy, len, consumed, h, payload);
}

/* Opens |wire| and expects one valid frame with these contents. */
static void open_expect(pt_frame_opener *o, const uint8_t *wire, size_t len, uint8_t type,
                        uint32_t sid, const uint8_t *payload, size_t plen, size_t pad_len)
{
    uint8_t *copy, *pl = NULL;
    size_t consumed;
    pt_frame_hdr h;
    int rc = open_copy(o, wire, len, &copy, &consumed, &h, &pl);
    if (rc != PT_ERR_OK) {
        fail_msg("open(type %s) = %s", pt_frame_type_name(type), pt_err_name(rc));
    }
    assert_int_equal(consumed, len);
    assert_int_equal(h.type, type);
    assert_int_equal(h.stream_id, sid);
    assert_int_equal(h.payload_len, plen);
    assert_int_equal(h.pad_len, pad_len);
    assert_non_null(pl);
    assert_ptr_equal(pl, copy + PT_FRAME_PAYLOAD_OFFSET);
    if (plen) {
        assert_memory_equal(pl, payload, plen);
    }
    free(copy);
}

/* The frame must not open. AGAIN is allowed only if it claims more bytes
 * than it has; those bytes are then supplied (zeros) and the result must be
 * an error. Returns the final error. */
static int open_expect_error(pt_frame_opener *o, const uint8_t *wire, size_t len)
{
    uint8_t *copy, *pl = NULL;
    size_t consumed;
    pt_frame_hdr h;
    int rc = open_copy(o, wire, len, &copy, &consumed, &h, &pl);
    free(copy);
    if (rc == PT_ERR_AGAIN) {
        assert_true(consumed > len);
        assert_true(consumed <= PT_FRAME_MAX_WIRE);
        uint8_t *more = xmalloc(consumed);
        memset(more, 0, consumed);
        memcpy(more, wire, len);
        size_t consumed2 = 0;
        rc = pt_frame_open(o, more, consumed, &consumed2, &h, &pl);
        free(more);
        assert_int_not_equal(rc, PT_ERR_AGAIN);
    }
    if (rc == PT_ERR_OK) {
        fail_msg("a frame that must not open opened");
    }
    assert_true(pt_err_is_fatal(rc));
    return rc;
}

static void pair_init(pt_frame_dir *s, pt_frame_opener *o, pt_aead_backend sb, pt_aead_backend ob,
                      const uint8_t k[32])
{
    assert_int_equal(pt_frame_dir_init(s, sb, k), PT_ERR_OK);
    assert_int_equal(pt_frame_opener_init(o, ob, k), PT_ERR_OK);
}

static void pair_cleanup(pt_frame_dir *s, pt_frame_opener *o)
{
    pt_frame_dir_cleanup(s);
    pt_frame_opener_cleanup(o);
}

/* ---- key derivation and the exact wire bytes --------------------------- */

static void test_key_derivation(void **state)
{
    (void)state;
    uint8_t k[32], kd[32], kl[32];
    test_key(k, 1);
    ref_frame_keys(k, kd, kl);
    for (int b = 0; b < N_BACKENDS; b++) {
        pt_frame_dir d;
        assert_int_equal(pt_frame_dir_init(&d, BACKENDS[b], k), PT_ERR_OK);
        assert_memory_equal(d.k_data, kd, 32);
        assert_memory_equal(d.k_len, kl, 32);
        assert_memory_not_equal(d.k_data, d.k_len, 32);
        assert_true(d.n == 0);
        /* Rekey is Noise Rekey() of each key; n is kept. */
        d.n = 5;
        assert_int_equal(pt_frame_dir_rekey(&d), PT_ERR_OK);
        uint8_t kd2[32], kl2[32];
        memcpy(kd2, kd, 32);
        memcpy(kl2, kl, 32);
        ref_rekey(kd2);
        ref_rekey(kl2);
        assert_memory_equal(d.k_data, kd2, 32);
        assert_memory_equal(d.k_len, kl2, 32);
        assert_true(d.n == 5);
        pt_frame_dir_cleanup(&d);
        static const uint8_t zero[32] = {0};
        assert_memory_equal(d.k_data, zero, 32);
        assert_memory_equal(d.k_len, zero, 32);
    }
}

/* pt_frame_seal_raw's bytes equal the independent encoder's, frame after
 * frame, across a KEY_UPDATE. */
static void test_seal_matches_reference(void **state)
{
    (void)state;
    uint8_t k[32];
    test_key(k, 2);
    uint64_t seed = 0x1234;
    for (int b = 0; b < N_BACKENDS; b++) {
        pt_frame_dir d;
        ref_dir r;
        assert_int_equal(pt_frame_dir_init(&d, BACKENDS[b], k), PT_ERR_OK);
        ref_dir_init(&r, k);
        static const size_t plens[] = {0, 1, 5, 100, 1000, 0, 33, 4000, 7};
        for (size_t i = 0; i < sizeof(plens) / sizeof(plens[0]); i++) {
            size_t plen = plens[i], pad_len = (i * 37) % 256;
            uint8_t type = i == 5 ? PT_FRAME_KEY_UPDATE : PT_FRAME_DATA;
            uint32_t sid = type == PT_FRAME_DATA ? (uint32_t)(i * 1000 + 1) : 0;
            uint8_t *payload = xmalloc(plen), *pad = xmalloc(pad_len);
            rng_fill(&seed, payload, plen);
            rng_fill(&seed, pad, pad_len);
            size_t wl;
            uint8_t *w = seal_exact(&d, &wl, type, sid, payload, plen, pad, pad_len);

            uint8_t *plain = xmalloc(7 + plen + pad_len), *want = xmalloc(wl);
            size_t pn = ref_plain(plain, type, sid, (unsigned)plen, (unsigned)pad_len, payload,
                                  plen, pad, pad_len);
            assert_int_equal(ref_seal(&r, want, (unsigned)(pn + 16), plain, pn), wl);
            if (memcmp(w, want, wl) != 0) {
                fail_msg("frame %zu (backend %d) differs from the reference encoder", i, b);
            }
            if (type == PT_FRAME_KEY_UPDATE) {
                ref_rekey(r.kd);
                ref_rekey(r.kl);
            }
            assert_true(d.n == r.n);
            free(want);
            free(plain);
            free(w);
            free(pad);
            free(payload);
        }
        pt_frame_dir_cleanup(&d);
    }
}

/* The payload may already sit at PT_FRAME_PAYLOAD_OFFSET (payload NULL or
 * equal to that address) or overlap the buffer elsewhere (memmove). */
static void test_seal_in_place_and_overlap(void **state)
{
    (void)state;
    uint8_t k[32], payload[300], pad[20];
    test_key(k, 3);
    uint64_t seed = 77;
    rng_fill(&seed, payload, sizeof(payload));
    memset(pad, 0x11, sizeof(pad));
    const size_t wl = PT_FRAME_OVERHEAD + sizeof(payload) + sizeof(pad);

    pt_frame_dir ref;
    assert_int_equal(pt_frame_dir_init(&ref, PT_AEAD_BORINGSSL, k), PT_ERR_OK);
    size_t got;
    uint8_t *want = seal_exact(&ref, &got, PT_FRAME_DATA, 9, payload, sizeof(payload), pad, 20);
    pt_frame_dir_cleanup(&ref);

    for (int mode = 0; mode < 4; mode++) {
        pt_frame_dir d;
        assert_int_equal(pt_frame_dir_init(&d, PT_AEAD_BORINGSSL, k), PT_ERR_OK);
        uint8_t *buf = xmalloc(wl);
        memset(buf, 0xee, wl);
        const uint8_t *src;
        switch (mode) {
        case 0: /* in place, payload NULL */
            memcpy(buf + PT_FRAME_PAYLOAD_OFFSET, payload, sizeof(payload));
            src = NULL;
            break;
        case 1: /* in place, payload == buf + 9 */
            memcpy(buf + PT_FRAME_PAYLOAD_OFFSET, payload, sizeof(payload));
            src = buf + PT_FRAME_PAYLOAD_OFFSET;
            break;
        case 2: /* overlapping, before */
            memcpy(buf, payload, sizeof(payload));
            src = buf;
            break;
        default: /* overlapping, after */
            memcpy(buf + 20, payload, sizeof(payload));
            src = buf + 20;
            break;
        }
        size_t out = 0;
        assert_int_equal(pt_frame_seal_raw(&d, buf, wl, &out, PT_FRAME_DATA, 9, src,
                                           sizeof(payload), pad, sizeof(pad)),
                         PT_ERR_OK);
        assert_int_equal(out, wl);
        assert_memory_equal(buf, want, wl);
        free(buf);
        pt_frame_dir_cleanup(&d);
    }
    free(want);
}

/* ---- round trips ------------------------------------------------------ */

static void test_round_trip_all_types(void **state)
{
    (void)state;
    uint8_t k[32];
    test_key(k, 4);
    uint64_t seed = 99;

    uint8_t addr_buf[PT_ADDR_MAX_ENCODED];
    pt_addr a;
    pt_cbb cbb;
    assert_int_equal(pt_addr_set_domain(&a, "example.com", 443), PT_ERR_OK);
    pt_cbb_init(&cbb, addr_buf, sizeof(addr_buf));
    assert_int_equal(pt_addr_encode(&cbb, &a), PT_ERR_OK);

    uint8_t u4[4], u8b[8], big[16384];
    rng_fill(&seed, big, sizeof(big));

    struct {
        uint8_t type;
        uint32_t sid;
        const uint8_t *p;
        size_t len;
    } cases[] = {
        {PT_FRAME_DATA, 1, big, 0},
        {PT_FRAME_DATA, 1, big, 1},
        {PT_FRAME_DATA, 0xffffff, big, 1400},
        {PT_FRAME_DATA, 3, big, sizeof(big)},
        {PT_FRAME_STREAM_OPEN, 3, addr_buf, cbb.len},
        {PT_FRAME_STREAM_CLOSE, 3, NULL, 0},
        {PT_FRAME_STREAM_CLOSE, 5, u4, 4},
        {PT_FRAME_WINDOW_UPDATE, 0, u4, 4},
        {PT_FRAME_WINDOW_UPDATE, 7, u4, 4},
        {PT_FRAME_PING, 0, u8b, 8},
        {PT_FRAME_PONG, 0, u8b, 8},
        {PT_FRAME_GOAWAY, 0, u8b, 8},
        {PT_FRAME_PADDING, 0, NULL, 0},
        {PT_FRAME_PADDING, 0, big, 999},
        {PT_FRAME_KEY_UPDATE, 0, NULL, 0},
        {PT_FRAME_DATA, 1, big, 77}, /* after the rekey */
    };
    static const pt_pad_strategy strategies[] = {PT_PAD_NONE, PT_PAD_BLOCK, PT_PAD_RANDOM,
                                                 PT_PAD_POWER_OF_TWO};

    for (int sb = 0; sb < N_BACKENDS; sb++) {
        for (int ob = 0; ob < N_BACKENDS; ob++) {
            for (size_t st = 0; st < 4; st++) {
                pt_frame_dir s;
                pt_frame_opener o;
                pair_init(&s, &o, BACKENDS[sb], BACKENDS[ob], k);
                pt_pad_policy pol;
                pt_pad_policy_default(&pol);
                pol.strategy = strategies[st];
                for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                    /* Fixed payloads: vary the values a little per case. */
                    pt_frame_put_u32(u4, (uint32_t)(0x01000000u + i));
                    pt_frame_put_goaway(u8b, (uint32_t)(0xfffff0 + i), PT_WIRE_CANCEL);
                    if (cases[i].type == PT_FRAME_PING || cases[i].type == PT_FRAME_PONG) {
                        rng_fill(&seed, u8b, 8);
                    }
                    size_t plen = cases[i].len;
                    size_t cap = PT_FRAME_OVERHEAD + plen + PT_FRAME_MAX_PAD;
                    uint8_t *buf = xmalloc(cap);
                    size_t wl = 0;
                    assert_int_equal(pt_frame_seal(&s, &pol, buf, cap, &wl, cases[i].type,
                                                   cases[i].sid, cases[i].p, plen),
                                     PT_ERR_OK);
                    assert_true(wl >= PT_FRAME_OVERHEAD + plen);
                    size_t pad = wl - PT_FRAME_OVERHEAD - plen;
                    assert_true(pad <= 255);
                    if (pol.strategy != PT_PAD_RANDOM) {
                        assert_int_equal(pad, pt_frame_pad_len(&pol, plen, 0));
                    } else {
                        assert_true(PT_FRAME_HDR_LEN + plen + pad >= pol.min_size);
                    }
                    open_expect(&o, buf, wl, cases[i].type, cases[i].sid, cases[i].p, plen, pad);
                    free(buf);
                    assert_true(s.n == o.dir.n);
                }
                /* Both sides rekeyed once, to the same keys. */
                assert_memory_equal(s.k_data, o.dir.k_data, 32);
                assert_memory_equal(s.k_len, o.dir.k_len, 32);
                pair_cleanup(&s, &o);
            }
        }
    }
}

static void test_fixed_payload_helpers(void **state)
{
    (void)state;
    uint8_t b4[4], b8[8];
    pt_frame_put_u32(b4, 0x01020304);
    assert_memory_equal(b4, "\x01\x02\x03\x04", 4);
    assert_int_equal(pt_frame_window_increment(b4), 0x01020304);
    assert_int_equal(pt_frame_close_code(b4, 4), 0x01020304);
    assert_int_equal(pt_frame_close_code(b4, 0), PT_WIRE_NO_ERROR);
    assert_int_equal(pt_frame_close_code(NULL, 0), PT_WIRE_NO_ERROR);
    pt_frame_put_goaway(b8, 0x00abcdef, 0xfedcba98);
    assert_memory_equal(b8, "\x00\xab\xcd\xef\xfe\xdc\xba\x98", 8);
    uint32_t last = 0, code = 0;
    pt_frame_goaway_fields(b8, &last, &code);
    assert_int_equal(last, 0x00abcdef);
    assert_int_equal(code, 0xfedcba98);
}

/* ---- padding ---------------------------------------------------------- */

/* The padding rule from pt_frame.h, written out independently. */
static unsigned ref_pad_len(const pt_pad_policy *p, size_t payload_len, uint8_t rnd)
{
    unsigned long f = 7ul + payload_len, pad;
    switch (p->strategy) {
    case PT_PAD_NONE:
        return 0;
    case PT_PAD_BLOCK: {
        unsigned long b = p->block;
        unsigned long next = ((f + b - 1) / b) * b; /* round up to a multiple of b */
        pad = next - f;
        break;
    }
    case PT_PAD_RANDOM:
        pad = rnd;
        break;
    case PT_PAD_POWER_OF_TWO: {
        unsigned long t = 1;
        while (t < f) {
            t *= 2;
        }
        pad = t - f <= 255 ? t - f : 0;
        break;
    }
    default:
        fail_msg("bad strategy");
        return 0;
    }
    if (f + pad < p->min_size) {
        pad = p->min_size - f;
    }
    return pad > 255 ? 255 : (unsigned)pad;
}

static int is_pow2(unsigned long v)
{
    return v && (v & (v - 1)) == 0;
}

static void check_pad(const pt_pad_policy *p, size_t plen, uint8_t rnd)
{
    unsigned got = pt_frame_pad_len(p, plen, rnd);
    unsigned want = ref_pad_len(p, plen, rnd);
    if (got != want) {
        fail_msg("pad_len(strategy %d, block %u, min %u, plen %zu, rnd %u) = %u, want %u",
                 p->strategy, p->block, p->min_size, plen, rnd, got, want);
    }
    assert_true(got <= 255);
    unsigned long total = 7ul + plen + got;
    /* Properties that hold whenever min_size does not interfere. */
    if (total > p->min_size || got == 0) {
        switch (p->strategy) {
        case PT_PAD_BLOCK:
            assert_true(total % p->block == 0);
            break;
        case PT_PAD_POWER_OF_TWO:
            assert_true(is_pow2(total) || got == 0);
            break;
        case PT_PAD_RANDOM:
            assert_int_equal(got, rnd);
            break;
        default:
            break;
        }
    }
    if (p->strategy != PT_PAD_NONE && p->min_size <= 262) {
        assert_true(total >= p->min_size); /* min_size is always reachable */
    }
}

static void test_pad_len(void **state)
{
    (void)state;
    static const uint16_t blocks[] = {1, 2, 3, 16, 64, 100, 128, 255, 256};
    static const uint16_t mins[] = {0, 1, 7, 8, 64, 100, 256, 262};
    static const uint8_t rnds[] = {0, 1, 57, 128, 255};
    static const size_t specials[] = {PT_FRAME_MAX_PAYLOAD - 1,
                                      PT_FRAME_MAX_PAYLOAD,
                                      PT_FRAME_MAX_PAYLOAD + 1,
                                      PT_FRAME_MAX_BODY,
                                      65535,
                                      65536,
                                      70000};

    pt_pad_policy def;
    pt_pad_policy_default(&def);
    assert_int_equal(def.strategy, PT_PAD_RANDOM);
    assert_int_equal(def.block, 64);
    assert_int_equal(def.min_size, 64);

    for (size_t mi = 0; mi < sizeof(mins) / sizeof(mins[0]); mi++) {
        for (int st = PT_PAD_NONE; st <= PT_PAD_POWER_OF_TWO; st++) {
            size_t nb = st == PT_PAD_BLOCK ? sizeof(blocks) / sizeof(blocks[0]) : 1;
            size_t nr = st == PT_PAD_RANDOM ? sizeof(rnds) : 1;
            for (size_t bi = 0; bi < nb; bi++) {
                for (size_t ri = 0; ri < nr; ri++) {
                    pt_pad_policy p = {.strategy = (pt_pad_strategy)st,
                                       .block = st == PT_PAD_BLOCK ? blocks[bi] : 64,
                                       .min_size = mins[mi]};
                    uint8_t rnd = st == PT_PAD_RANDOM ? rnds[ri] : 0xa7;
                    /* Every length up to 600, then a stepped mix to 70000. */
                    for (size_t plen = 0; plen <= 70000;
                         plen += plen < 600 ? 1 : (plen < 17000 ? 61 : 997)) {
                        check_pad(&p, plen, rnd);
                    }
                    /* Around every power of two and the limits. */
                    for (size_t pw = 8; pw <= 131072; pw *= 2) {
                        for (size_t d = 0; d < 9; d++) {
                            size_t f = pw - 4 + d;
                            if (f >= 7) {
                                check_pad(&p, f - 7, rnd);
                            }
                        }
                    }
                    for (size_t i = 0; i < sizeof(specials) / sizeof(specials[0]); i++) {
                        check_pad(&p, specials[i], rnd);
                    }
                }
            }
        }
    }

    /* NONE is 0 whatever min_size says. */
    pt_pad_policy none = {.strategy = PT_PAD_NONE, .block = 64, .min_size = 262};
    assert_int_equal(pt_frame_pad_len(&none, 0, 200), 0);
    /* A few hand-computed points. */
    pt_pad_policy blk = {.strategy = PT_PAD_BLOCK, .block = 64, .min_size = 0};
    assert_int_equal(pt_frame_pad_len(&blk, 0, 0), 57);  /* 7 -> 64 */
    assert_int_equal(pt_frame_pad_len(&blk, 57, 0), 0);  /* 64 */
    assert_int_equal(pt_frame_pad_len(&blk, 58, 0), 63); /* 65 -> 128 */
    pt_pad_policy p2 = {.strategy = PT_PAD_POWER_OF_TWO, .block = 64, .min_size = 0};
    assert_int_equal(pt_frame_pad_len(&p2, 0, 0), 1);     /* 7 -> 8 */
    assert_int_equal(pt_frame_pad_len(&p2, 250, 0), 255); /* 257 -> 512 */
    assert_int_equal(pt_frame_pad_len(&p2, 249, 0), 0);   /* 256 */
    assert_int_equal(pt_frame_pad_len(&p2, 251, 0), 254); /* 258 -> 512 */
    assert_int_equal(pt_frame_pad_len(&p2, 506, 0), 0);   /* 513 -> 1024: out of reach */
    p2.min_size = 64;
    assert_int_equal(pt_frame_pad_len(&p2, 506, 0), 0);
    assert_int_equal(pt_frame_pad_len(&p2, 0, 0), 57); /* 8 < 64 -> 64 */
    pt_pad_policy rnd = {.strategy = PT_PAD_RANDOM, .block = 64, .min_size = 64};
    assert_int_equal(pt_frame_pad_len(&rnd, 0, 0), 57);
    assert_int_equal(pt_frame_pad_len(&rnd, 0, 100), 100);
    assert_int_equal(pt_frame_pad_len(&rnd, 1000, 3), 3);
    pt_pad_policy mx = {.strategy = PT_PAD_RANDOM, .block = 64, .min_size = 262};
    assert_int_equal(pt_frame_pad_len(&mx, 0, 0), 255);

    /* Out-of-range settings never give more than 255. */
    static const uint16_t odd_blocks[] = {0, 257, 1000, 65535};
    for (size_t i = 0; i < 4; i++) {
        pt_pad_policy p = {.strategy = PT_PAD_BLOCK, .block = odd_blocks[i], .min_size = 65535};
        for (size_t plen = 0; plen < 3000; plen += 7) {
            assert_true(pt_frame_pad_len(&p, plen, 0) <= 255);
            p.min_size = 0;
            assert_true(pt_frame_pad_len(&p, plen, 0) <= 255);
            p.min_size = 65535;
        }
    }
}

/* ---- split receive buffers ------------------------------------------- */

typedef struct expect {
    uint8_t type;
    uint32_t sid;
    uint8_t *payload;
    size_t plen;
    size_t pad;
    size_t wire_len;
} expect;

/* Feeds |stream| to |o| in chunks of 1..max_chunk bytes (exactly 1 when
 * max_chunk is 1), re-presenting the unconsumed head each time as an
 * exact-size buffer, and checks every frame and every AGAIN. */
static void rx_run(pt_frame_opener *o, const uint8_t *stream, size_t stream_len, const expect *ex,
                   size_t n_ex, uint64_t *seed, size_t max_chunk)
{
    uint8_t *pend = xmalloc(stream_len);
    size_t pend_len = 0, off = 0, k = 0, agains = 0;

    while (off < stream_len) {
        size_t chunk = max_chunk <= 1 ? 1 : 1 + (size_t)(rng_next(seed) % max_chunk);
        if (chunk > stream_len - off) {
            chunk = stream_len - off;
        }
        memcpy(pend + pend_len, stream + off, chunk);
        pend_len += chunk;
        off += chunk;
        for (;;) {
            /* len 0 still gets a pointer whose every byte is out of bounds. */
            uint8_t *blk = xmalloc(pend_len), *buf = pend_len ? blk : blk + 1;
            if (pend_len) {
                memcpy(buf, pend, pend_len);
            }
            size_t consumed = 0;
            pt_frame_hdr h;
            uint8_t *pl = NULL;
            int rc = pt_frame_open(o, buf, pend_len, &consumed, &h, &pl);
            if (rc == PT_ERR_AGAIN) {
                assert_true(k < n_ex);
                if (pend_len < PT_FRAME_PREFIX_LEN) {
                    assert_int_equal(consumed, PT_FRAME_PREFIX_LEN);
                } else {
                    assert_int_equal(consumed, ex[k].wire_len);
                }
                assert_true(pend_len < ex[k].wire_len);
                agains++;
                free(blk);
                break;
            }
            if (rc != PT_ERR_OK) {
                fail_msg("frame %zu: %s with %zu bytes", k, pt_err_name(rc), pend_len);
            }
            assert_true(k < n_ex);
            assert_int_equal(consumed, ex[k].wire_len);
            assert_int_equal(h.type, ex[k].type);
            assert_int_equal(h.stream_id, ex[k].sid);
            assert_int_equal(h.payload_len, ex[k].plen);
            assert_int_equal(h.pad_len, ex[k].pad);
            if (ex[k].plen) {
                assert_memory_equal(pl, ex[k].payload, ex[k].plen);
            }
            memmove(pend, pend + consumed, pend_len - consumed);
            pend_len -= consumed;
            k++;
            free(blk);
            if (k == n_ex) {
                break;
            }
        }
    }
    assert_int_equal(k, n_ex);
    assert_int_equal(pend_len, 0);
    if (max_chunk <= 1) {
        /* Byte by byte: AGAIN after every byte but the last of each frame,
         * and once with nothing between two frames. */
        assert_int_equal(agains, stream_len - 1);
    }
    free(pend);
}

/* Seals |n| mixed frames (a KEY_UPDATE among them) into one stream. */
static uint8_t *make_stream(pt_frame_dir *s, expect *ex, size_t n, size_t max_payload,
                            uint64_t *seed, size_t *stream_len)
{
    size_t cap = n * (PT_FRAME_OVERHEAD + max_payload + 255);
    uint8_t *stream = xmalloc(cap);
    size_t len = 0;
    pt_pad_policy pol;
    pt_pad_policy_default(&pol);
    for (size_t i = 0; i < n; i++) {
        expect *e = &ex[i];
        unsigned r = (unsigned)(rng_next(seed) % 10);
        e->payload = NULL;
        e->sid = 0;
        if (i == n / 2) {
            e->type = PT_FRAME_KEY_UPDATE;
            e->plen = 0;
        } else if (r < 5) {
            e->type = PT_FRAME_DATA;
            e->sid = 1 + 2 * (uint32_t)(rng_next(seed) % 1000);
            e->plen = (size_t)(rng_next(seed) % (max_payload + 1));
        } else if (r < 7) {
            e->type = PT_FRAME_PADDING;
            e->plen = (size_t)(rng_next(seed) % 64);
        } else if (r < 8) {
            e->type = PT_FRAME_PING;
            e->plen = 8;
        } else if (r < 9) {
            e->type = PT_FRAME_WINDOW_UPDATE;
            e->sid = (uint32_t)(rng_next(seed) % 3);
            e->plen = 4;
        } else {
            e->type = PT_FRAME_STREAM_CLOSE;
            e->sid = 1;
            e->plen = (rng_next(seed) & 1) ? 4 : 0;
        }
        e->payload = xmalloc(e->plen);
        rng_fill(seed, e->payload, e->plen);
        if (e->type == PT_FRAME_WINDOW_UPDATE) {
            pt_frame_put_u32(e->payload, 1 + (uint32_t)(rng_next(seed) % 100000));
        }
        pol.strategy = (pt_pad_strategy)(i % 4);
        size_t wl = 0;
        assert_int_equal(pt_frame_seal(s, &pol, stream + len, cap - len, &wl, e->type, e->sid,
                                       e->payload, e->plen),
                         PT_ERR_OK);
        e->wire_len = wl;
        e->pad = wl - PT_FRAME_OVERHEAD - e->plen;
        len += wl;
    }
    *stream_len = len;
    return stream;
}

static void free_expect(expect *ex, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(ex[i].payload);
    }
}

static void test_split_byte_by_byte(void **state)
{
    (void)state;
    uint8_t k[32];
    test_key(k, 5);
    uint64_t seed = 4242;
    enum { N = 40 };
    expect ex[N];
    for (int b = 0; b < N_BACKENDS; b++) {
        pt_frame_dir s;
        pt_frame_opener o;
        pair_init(&s, &o, BACKENDS[b], BACKENDS[1 - b], k);
        size_t slen;
        uint8_t *stream = make_stream(&s, ex, N, 700, &seed, &slen);
        rx_run(&o, stream, slen, ex, N, &seed, 1);
        free_expect(ex, N);
        free(stream);
        pair_cleanup(&s, &o);
    }
}

static void test_split_random_chunks(void **state)
{
    (void)state;
    uint8_t k[32];
    test_key(k, 6);
    uint64_t seed = 777;
    enum { N = 30 };
    expect ex[N];
    static const size_t max_payloads[] = {300, 20000, PT_FRAME_MAX_PAYLOAD};
    static const size_t max_chunks[] = {3, 50, 1500, 9000};
    for (int b = 0; b < N_BACKENDS; b++) {
        for (size_t mp = 0; mp < 3; mp++) {
            pt_frame_dir s;
            pt_frame_opener o;
            pair_init(&s, &o, BACKENDS[b], BACKENDS[b], k);
            size_t slen;
            uint8_t *stream = make_stream(&s, ex, N, max_payloads[mp], &seed, &slen);
            size_t mc = max_chunks[mp + (size_t)b];
            if (mp == 2) {
                mc = 9000; /* large frames: keep the copying cheap */
            }
            rx_run(&o, stream, slen, ex, N, &seed, mc);
            free_expect(ex, N);
            free(stream);
            pair_cleanup(&s, &o);
        }
    }
}

/* Two frames in one buffer: the first opens with consumed = its size. */
static void test_two_frames_in_one_buffer(void **state)
{
    (void)state;
    uint8_t k[32], p1[10] = "0123456789", p2[8] = "pingping";
    test_key(k, 7);
    for (int b = 0; b < N_BACKENDS; b++) {
        pt_frame_dir s;
        pt_frame_opener o;
        pair_init(&s, &o, BACKENDS[b], BACKENDS[b], k);
        size_t l1, l2;
        uint8_t pad[3] = {1, 2, 3};
        uint8_t *w1 = seal_exact(&s, &l1, PT_FRAME_DATA, 1, p1, 10, pad, 3);
        uint8_t *w2 = seal_exact(&s, &l2, PT_FRAME_PING, 0, p2, 8, NULL, 0);
        uint8_t *both = xmalloc(l1 + l2);
        memcpy(both, w1, l1);
        memcpy(both + l1, w2, l2);

        size_t consumed = 0;
        pt_frame_hdr h;
        uint8_t *pl;
        assert_int_equal(pt_frame_open(&o, both, l1 + l2, &consumed, &h, &pl), PT_ERR_OK);
        assert_int_equal(consumed, l1);
        assert_int_equal(h.type, PT_FRAME_DATA);
        assert_int_equal(h.payload_len, 10);
        assert_int_equal(h.pad_len, 3);
        assert_ptr_equal(pl, both + PT_FRAME_PAYLOAD_OFFSET);
        assert_memory_equal(pl, p1, 10);
        /* The second frame is untouched by the first open. */
        assert_memory_equal(both + l1, w2, l2);
        assert_int_equal(pt_frame_open(&o, both + l1, l2, &consumed, &h, &pl), PT_ERR_OK);
        assert_int_equal(consumed, l2);
        assert_int_equal(h.type, PT_FRAME_PING);
        assert_memory_equal(pl, p2, 8);
        free(both);
        free(w2);
        free(w1);
        pair_cleanup(&s, &o);
    }
}

static void test_again_reports(void **state)
{
    (void)state;
    uint8_t k[32], payload[100] = {0};
    test_key(k, 8);
    pt_frame_dir s;
    pt_frame_opener o;
    pair_init(&s, &o, PT_AEAD_BORINGSSL, PT_AEAD_BORINGSSL, k);
    size_t wl;
    uint8_t *w = seal_exact(&s, &wl, PT_FRAME_DATA, 1, payload, 100, NULL, 0);
    size_t consumed = 12345;
    pt_frame_hdr h;
    uint8_t *pl;
    uint8_t *end = xmalloc(1);
    /* Nothing yet, one byte: the prefix is needed. */
    assert_int_equal(pt_frame_open(&o, end + 1, 0, &consumed, &h, &pl), PT_ERR_AGAIN);
    assert_int_equal(consumed, 2);
    uint8_t *one = dup_exact(w, 1);
    consumed = 0;
    assert_int_equal(pt_frame_open(&o, one, 1, &consumed, &h, &pl), PT_ERR_AGAIN);
    assert_int_equal(consumed, 2);
    /* The prefix: the whole size is known. */
    uint8_t *two = dup_exact(w, 2);
    assert_int_equal(pt_frame_open(&o, two, 2, &consumed, &h, &pl), PT_ERR_AGAIN);
    assert_int_equal(consumed, wl);
    uint8_t *most = dup_exact(w, wl - 1);
    assert_int_equal(pt_frame_open(&o, most, wl - 1, &consumed, &h, &pl), PT_ERR_AGAIN);
    assert_int_equal(consumed, wl);
    open_expect(&o, w, wl, PT_FRAME_DATA, 1, payload, 100, 0);
    free(most);
    free(two);
    free(one);
    free(end);
    free(w);
    pair_cleanup(&s, &o);
}

/* ---- tampering -------------------------------------------------------- */

static void tamper_all_bytes(pt_aead_backend backend, const uint8_t k[32], uint8_t type,
                             uint32_t sid, const uint8_t *payload, size_t plen, size_t pad_len)
{
    pt_frame_dir s;
    assert_int_equal(pt_frame_dir_init(&s, backend, k), PT_ERR_OK);
    uint8_t pad[255];
    memset(pad, 0x77, sizeof(pad));
    size_t wl;
    uint8_t *w = seal_exact(&s, &wl, type, sid, payload, plen, pad, pad_len);
    pt_frame_dir_cleanup(&s);
    static const uint8_t masks[] = {0x01, 0x80, 0xff};
    size_t step = wl > 400 ? wl / 97 : 1; /* large frames: sample the bytes */

    for (size_t i = 0; i < wl; i += (i < 16 || i + 20 >= wl) ? 1 : step) {
        for (size_t m = 0; m < sizeof(masks); m++) {
            uint8_t *bad = dup_exact(w, wl);
            bad[i] ^= masks[m];
            pt_frame_opener o;
            assert_int_equal(pt_frame_opener_init(&o, backend, k), PT_ERR_OK);
            uint8_t *copy, *pl;
            size_t consumed;
            pt_frame_hdr h;
            int rc = open_copy(&o, bad, wl, &copy, &consumed, &h, &pl);
            free(copy);
            if (i >= PT_FRAME_PREFIX_LEN) {
                /* The length is intact, so only the tag can object. */
                if (rc != PT_ERR_DECRYPT) {
                    fail_msg("flip byte %zu ^%02x: %s", i, masks[m], pt_err_name(rc));
                }
            } else if (rc == PT_ERR_AGAIN) {
                assert_true(consumed > wl);
                pt_frame_opener_cleanup(&o);
                assert_int_equal(pt_frame_opener_init(&o, backend, k), PT_ERR_OK);
                rc = open_expect_error(&o, bad, wl);
                assert_int_equal(rc, PT_ERR_DECRYPT);
            } else if (rc != PT_ERR_DECRYPT && rc != PT_ERR_FRAME_SIZE) {
                fail_msg("flip prefix byte %zu ^%02x: %s", i, masks[m], pt_err_name(rc));
            }
            pt_frame_opener_cleanup(&o);
            free(bad);
        }
    }
    free(w);
}

static void test_tamper_every_byte(void **state)
{
    (void)state;
    uint8_t k[32], payload[16384];
    test_key(k, 9);
    uint64_t seed = 5;
    rng_fill(&seed, payload, sizeof(payload));
    for (int b = 0; b < N_BACKENDS; b++) {
        tamper_all_bytes(BACKENDS[b], k, PT_FRAME_DATA, 1, payload, 10, 5);
        tamper_all_bytes(BACKENDS[b], k, PT_FRAME_PING, 0, payload, 8, 0);
        tamper_all_bytes(BACKENDS[b], k, PT_FRAME_KEY_UPDATE, 0, NULL, 0, 0); /* 25 bytes */
        tamper_all_bytes(BACKENDS[b], k, PT_FRAME_STREAM_CLOSE, 3, payload, 4, 255);
        tamper_all_bytes(BACKENDS[b], k, PT_FRAME_DATA, 77, payload, sizeof(payload), 100);
    }
}

/* A truncated frame is never OK: AGAIN for every shorter length. */
static void test_truncated_never_opens(void **state)
{
    (void)state;
    uint8_t k[32], payload[50];
    test_key(k, 10);
    memset(payload, 0x42, sizeof(payload));
    pt_frame_dir s;
    assert_int_equal(pt_frame_dir_init(&s, PT_AEAD_SODIUM, k), PT_ERR_OK);
    size_t wl;
    uint8_t *w = seal_exact(&s, &wl, PT_FRAME_DATA, 1, payload, 50, NULL, 0);
    pt_frame_dir_cleanup(&s);
    for (size_t cut = 0; cut < wl; cut++) {
        pt_frame_opener o;
        assert_int_equal(pt_frame_opener_init(&o, PT_AEAD_SODIUM, k), PT_ERR_OK);
        uint8_t *blk = xmalloc(cut), *buf = cut ? blk : blk + 1;
        if (cut) {
            memcpy(buf, w, cut);
        }
        size_t consumed = 0;
        pt_frame_hdr h;
        uint8_t *pl;
        assert_int_equal(pt_frame_open(&o, buf, cut, &consumed, &h, &pl), PT_ERR_AGAIN);
        assert_int_equal(consumed, cut < 2 ? 2 : wl);
        free(blk);
        pt_frame_opener_cleanup(&o);
    }
    free(w);
}

/* ---- size limits and argument checks -------------------------------- */

static void test_oversize_and_limits(void **state)
{
    (void)state;
    uint8_t k[32];
    test_key(k, 11);
    const size_t big_cap = PT_FRAME_MAX_WIRE + 300;
    uint8_t *payload = xmalloc(PT_FRAME_MAX_PAYLOAD + 1);
    uint64_t seed = 31;
    rng_fill(&seed, payload, PT_FRAME_MAX_PAYLOAD + 1);
    uint8_t pad[256];
    memset(pad, 0x99, sizeof(pad));

    assert_int_equal(PT_FRAME_MAX_PAYLOAD, 65257);
    assert_int_equal(PT_FRAME_MAX_WIRE, 65537);
    assert_int_equal(PT_FRAME_OVERHEAD, 25);

    for (int b = 0; b < N_BACKENDS; b++) {
        pt_frame_dir s;
        pt_frame_opener o;
        pair_init(&s, &o, BACKENDS[b], BACKENDS[b], k);
        uint8_t *buf = xmalloc(big_cap);
        size_t wl = 0xdead;
        pt_pad_policy none = {.strategy = PT_PAD_NONE, .block = 64, .min_size = 0};

        /* Too large: payload, padding. */
        assert_int_equal(pt_frame_seal_raw(&s, buf, big_cap, &wl, PT_FRAME_DATA, 1, payload,
                                           PT_FRAME_MAX_PAYLOAD + 1, NULL, 0),
                         PT_ERR_FRAME_SIZE);
        assert_int_equal(pt_frame_seal(&s, &none, buf, big_cap, &wl, PT_FRAME_DATA, 1, payload,
                                       PT_FRAME_MAX_PAYLOAD + 1),
                         PT_ERR_FRAME_SIZE);
        assert_int_equal(
            pt_frame_seal_raw(&s, buf, big_cap, &wl, PT_FRAME_DATA, 1, payload, 10, pad, 256),
            PT_ERR_FRAME_SIZE);
        /* Stream ID beyond 24 bits; unknown types. */
        assert_int_equal(pt_frame_seal_raw(&s, buf, big_cap, &wl, PT_FRAME_DATA, 0x1000000, payload,
                                           10, NULL, 0),
                         PT_ERR_INVAL);
        assert_int_equal(pt_frame_seal_raw(&s, buf, big_cap, &wl, PT_FRAME_DATA, UINT32_MAX,
                                           payload, 10, NULL, 0),
                         PT_ERR_INVAL);
        assert_int_equal(
            pt_frame_seal_raw(&s, buf, big_cap, &wl, PT_FRAME_TYPE_MAX + 1, 0, NULL, 0, NULL, 0),
            PT_ERR_INVAL);
        assert_int_equal(pt_frame_seal_raw(&s, buf, big_cap, &wl, 0xff, 0, NULL, 0, NULL, 0),
                         PT_ERR_INVAL);
        /* Too small a buffer, by one byte and entirely. */
        assert_int_equal(pt_frame_seal_raw(&s, buf, PT_FRAME_OVERHEAD + 10 + 4, &wl, PT_FRAME_DATA,
                                           1, payload, 10, pad, 5),
                         PT_ERR_NOBUFS);
        assert_int_equal(pt_frame_seal_raw(&s, buf, 0, &wl, PT_FRAME_PADDING, 0, NULL, 0, NULL, 0),
                         PT_ERR_NOBUFS);
        assert_int_equal(pt_frame_seal_raw(&s, buf, PT_FRAME_OVERHEAD - 1, &wl, PT_FRAME_PADDING, 0,
                                           NULL, 0, NULL, 0),
                         PT_ERR_NOBUFS);
        assert_int_equal(wl, 0xdead); /* untouched by failures */
        /* None of the failures used a nonce. */
        assert_true(s.n == 0);

        /* The largest frame: payload MAX with 255 bytes of padding. */
        uint8_t *w =
            seal_exact(&s, &wl, PT_FRAME_DATA, 0xffffff, payload, PT_FRAME_MAX_PAYLOAD, pad, 255);
        assert_int_equal(wl, 65537);
        open_expect(&o, w, wl, PT_FRAME_DATA, 0xffffff, payload, PT_FRAME_MAX_PAYLOAD, 255);
        free(w);
        /* Exactly the capacity needed. */
        w = seal_exact(&s, &wl, PT_FRAME_DATA, 1, payload, 10, pad, 5);
        assert_int_equal(wl, PT_FRAME_OVERHEAD + 15);
        open_expect(&o, w, wl, PT_FRAME_DATA, 1, payload, 10, 5);
        free(w);
        /* The smallest frame: 25 bytes. */
        w = seal_exact(&s, &wl, PT_FRAME_PADDING, 0, NULL, 0, NULL, 0);
        assert_int_equal(wl, 25);
        open_expect(&o, w, wl, PT_FRAME_PADDING, 0, NULL, 0, 0);
        free(w);

        free(buf);
        pair_cleanup(&s, &o);
    }
    free(payload);
}

/* Crafted frames that seal_raw would not build. */
static void test_crafted_frames(void **state)
{
    (void)state;
    uint8_t k[32];
    test_key(k, 12);
    uint8_t *payload = xmalloc(PT_FRAME_MAX_BODY);
    memset(payload, 0x61, PT_FRAME_MAX_BODY);
    static const unsigned unknown_types[] = {PT_FRAME_TYPE_MAX + 1, 0x10, 0x80, 0xff};

    for (int b = 0; b < N_BACKENDS; b++) {
        ref_dir r;
        pt_frame_opener o;
        uint8_t *w;
        size_t wl;

        /* Sanity: a crafted valid frame opens. */
        ref_dir_init(&r, k);
        assert_int_equal(pt_frame_opener_init(&o, BACKENDS[b], k), PT_ERR_OK);
        w = ref_frame(&r, &wl, PT_FRAME_DATA, 5, 3, 2, payload, 3, 2);
        open_expect(&o, w, wl, PT_FRAME_DATA, 5, payload, 3, 2);
        free(w);
        pt_frame_opener_cleanup(&o);

        /* Unknown types -> PROTO. */
        for (size_t i = 0; i < sizeof(unknown_types) / sizeof(unknown_types[0]); i++) {
            ref_dir_init(&r, k);
            assert_int_equal(pt_frame_opener_init(&o, BACKENDS[b], k), PT_ERR_OK);
            w = ref_frame(&r, &wl, unknown_types[i], 0, 0, 0, NULL, 0, 0);
            assert_int_equal(open_expect_error(&o, w, wl), PT_ERR_PROTO);
            free(w);
            pt_frame_opener_cleanup(&o);
        }

        /* Header lengths that disagree with the authenticated length. */
        static const unsigned bad_lens[][2] = {{4, 0}, {2, 0}, {3, 1}, {0, 2}, {65535, 255}};
        for (size_t i = 0; i < 5; i++) {
            ref_dir_init(&r, k);
            assert_int_equal(pt_frame_opener_init(&o, BACKENDS[b], k), PT_ERR_OK);
            w = ref_frame(&r, &wl, PT_FRAME_DATA, 1, bad_lens[i][0], bad_lens[i][1], payload, 3, 0);
            assert_int_equal(open_expect_error(&o, w, wl), PT_ERR_FRAME_SIZE);
            free(w);
            pt_frame_opener_cleanup(&o);
        }

        /* Payload above PT_FRAME_MAX_PAYLOAD (fits in the length field). */
        ref_dir_init(&r, k);
        assert_int_equal(pt_frame_opener_init(&o, BACKENDS[b], k), PT_ERR_OK);
        w = ref_frame(&r, &wl, PT_FRAME_DATA, 1, PT_FRAME_MAX_PAYLOAD + 1, 0, payload,
                      PT_FRAME_MAX_PAYLOAD + 1, 0);
        assert_int_equal(open_expect_error(&o, w, wl), PT_ERR_FRAME_SIZE);
        free(w);
        pt_frame_opener_cleanup(&o);

        /* Length prefix below 23: rejected before any decryption. */
        static const unsigned short_lens[] = {0, 1, 16, 22};
        for (size_t i = 0; i < 4; i++) {
            ref_dir_init(&r, k);
            assert_int_equal(pt_frame_opener_init(&o, BACKENDS[b], k), PT_ERR_OK);
            uint8_t plain[7] = {0};
            uint8_t wire[2 + 7 + 16];
            ref_seal(&r, wire, short_lens[i], plain, 7);
            uint8_t *copy, *pl;
            size_t consumed;
            pt_frame_hdr h;
            assert_int_equal(open_copy(&o, wire, 2, &copy, &consumed, &h, &pl), PT_ERR_FRAME_SIZE);
            free(copy);
            pt_frame_opener_cleanup(&o);
        }

        /* Exactly 23: a header and a tag. */
        ref_dir_init(&r, k);
        assert_int_equal(pt_frame_opener_init(&o, BACKENDS[b], k), PT_ERR_OK);
        w = ref_frame(&r, &wl, PT_FRAME_KEY_UPDATE, 0, 0, 0, NULL, 0, 0);
        assert_int_equal(wl, 25);
        open_expect(&o, w, wl, PT_FRAME_KEY_UPDATE, 0, NULL, 0, 0);
        free(w);
        pt_frame_opener_cleanup(&o);

        /* PROTOCOL.md §6.2: frames are numbered 0 .. 2^64-3; after opening
         * frame 2^64-3 the receiver accepts no more (2^64-1 is Rekey's). */
        ref_dir_init(&r, k);
        assert_int_equal(pt_frame_opener_init(&o, BACKENDS[b], k), PT_ERR_OK);
        r.n = UINT64_MAX - 2;
        o.dir.n = UINT64_MAX - 2;
        w = ref_frame(&r, &wl, PT_FRAME_DATA, 1, 3, 0, payload, 3, 0);
        open_expect(&o, w, wl, PT_FRAME_DATA, 1, payload, 3, 0);
        free(w);
        assert_true(o.dir.n == UINT64_MAX - 1);
        w = ref_frame(&r, &wl, PT_FRAME_DATA, 1, 3, 0, payload, 3, 0);
        assert_int_equal(open_expect_error(&o, w, wl), PT_ERR_NONCE_EXHAUSTED);
        free(w);
        pt_frame_opener_cleanup(&o);
    }
    free(payload);
}

static void test_seal_nonce_exhausted(void **state)
{
    (void)state;
    uint8_t k[32];
    test_key(k, 13);
    pt_frame_dir s;
    pt_frame_opener o;
    pair_init(&s, &o, PT_AEAD_BORINGSSL, PT_AEAD_SODIUM, k);
    /* PROTOCOL.md §6.2: the last frame is number 2^64-3. */
    s.n = UINT64_MAX - 2;
    o.dir.n = UINT64_MAX - 2;
    size_t wl;
    uint8_t *w = seal_exact(&s, &wl, PT_FRAME_PADDING, 0, NULL, 0, NULL, 0);
    open_expect(&o, w, wl, PT_FRAME_PADDING, 0, NULL, 0, 0);
    free(w);
    assert_true(s.n == UINT64_MAX - 1);
    uint8_t buf[64];
    assert_int_equal(
        pt_frame_seal_raw(&s, buf, sizeof(buf), &wl, PT_FRAME_PADDING, 0, NULL, 0, NULL, 0),
        PT_ERR_NONCE_EXHAUSTED);
    assert_true(s.n == UINT64_MAX - 1); /* nothing was used */
    s.n = UINT64_MAX;
    assert_int_equal(
        pt_frame_seal_raw(&s, buf, sizeof(buf), &wl, PT_FRAME_PADDING, 0, NULL, 0, NULL, 0),
        PT_ERR_NONCE_EXHAUSTED);
    pair_cleanup(&s, &o);
}

/* ---- per-type rules --------------------------------------------------- */

typedef struct rule_case {
    uint8_t type;
    uint32_t sid;
    size_t plen;
    uint32_t v1, v2; /* first / second u32 of the payload when plen >= 4 / 8 */
    int want;        /* PT_ERR_OK or PT_ERR_PROTO */
} rule_case;

static void test_type_rules(void **state)
{
    (void)state;
    static const rule_case cases[] = {
        /* valid boundaries */
        {PT_FRAME_DATA, 1, 0, 0, 0, PT_ERR_OK},
        {PT_FRAME_DATA, 0xffffff, 5, 0, 0, PT_ERR_OK},
        {PT_FRAME_STREAM_OPEN, 2, 7, 0x01020304, 0, PT_ERR_OK},
        {PT_FRAME_STREAM_CLOSE, 1, 0, 0, 0, PT_ERR_OK},
        {PT_FRAME_STREAM_CLOSE, 1, 4, PT_WIRE_CANCEL, 0, PT_ERR_OK},
        {PT_FRAME_WINDOW_UPDATE, 0, 4, 1, 0, PT_ERR_OK},
        {PT_FRAME_WINDOW_UPDATE, 9, 4, 0x7fffffff, 0, PT_ERR_OK},
        {PT_FRAME_PING, 0, 8, 0, 0, PT_ERR_OK},
        {PT_FRAME_PONG, 0, 8, 1, 2, PT_ERR_OK},
        {PT_FRAME_GOAWAY, 0, 8, 0xffffff, PT_WIRE_NO_ERROR, PT_ERR_OK},
        {PT_FRAME_GOAWAY, 0, 8, 0, UINT32_MAX, PT_ERR_OK},
        {PT_FRAME_PADDING, 0, 0, 0, 0, PT_ERR_OK},
        {PT_FRAME_PADDING, 0, 300, 0, 0, PT_ERR_OK},
        {PT_FRAME_KEY_UPDATE, 0, 0, 0, 0, PT_ERR_OK},
        /* violations */
        {PT_FRAME_DATA, 0, 5, 0, 0, PT_ERR_PROTO},
        {PT_FRAME_STREAM_OPEN, 0, 7, 0, 0, PT_ERR_PROTO},
        {PT_FRAME_STREAM_CLOSE, 0, 0, 0, 0, PT_ERR_PROTO},
        {PT_FRAME_STREAM_CLOSE, 1, 3, 0, 0, PT_ERR_PROTO},
        {PT_FRAME_STREAM_CLOSE, 1, 1, 0, 0, PT_ERR_PROTO},
        {PT_FRAME_STREAM_CLOSE, 1, 5, 0, 0, PT_ERR_PROTO},
        {PT_FRAME_STREAM_CLOSE, 1, 8, 0, 0, PT_ERR_PROTO},
        {PT_FRAME_WINDOW_UPDATE, 1, 4, 0, 0, PT_ERR_PROTO},
        {PT_FRAME_WINDOW_UPDATE, 0, 4, 0, 0, PT_ERR_PROTO},
        {PT_FRAME_WINDOW_UPDATE, 1, 4, 0x80000000u, 0, PT_ERR_PROTO}, /* §6.3: 1..2^31-1 */
        {PT_FRAME_WINDOW_UPDATE, 0, 4, UINT32_MAX, 0, PT_ERR_PROTO},
        {PT_FRAME_WINDOW_UPDATE, 1, 3, 0, 0, PT_ERR_PROTO},
        {PT_FRAME_WINDOW_UPDATE, 1, 5, 1, 0, PT_ERR_PROTO},
        {PT_FRAME_WINDOW_UPDATE, 1, 0, 0, 0, PT_ERR_PROTO},
        {PT_FRAME_PING, 0, 7, 0, 0, PT_ERR_PROTO},
        {PT_FRAME_PING, 0, 9, 0, 0, PT_ERR_PROTO},
        {PT_FRAME_PING, 0, 0, 0, 0, PT_ERR_PROTO},
        {PT_FRAME_PING, 1, 8, 0, 0, PT_ERR_PROTO},
        {PT_FRAME_PONG, 0, 7, 0, 0, PT_ERR_PROTO},
        {PT_FRAME_PONG, 5, 8, 0, 0, PT_ERR_PROTO},
        {PT_FRAME_GOAWAY, 0, 8, 0x1000000, 0, PT_ERR_PROTO},
        {PT_FRAME_GOAWAY, 0, 8, UINT32_MAX, 0, PT_ERR_PROTO},
        {PT_FRAME_GOAWAY, 0, 7, 0, 0, PT_ERR_PROTO},
        {PT_FRAME_GOAWAY, 0, 9, 0, 0, PT_ERR_PROTO},
        {PT_FRAME_GOAWAY, 1, 8, 0, 0, PT_ERR_PROTO},
        {PT_FRAME_PADDING, 1, 0, 0, 0, PT_ERR_PROTO},
        {PT_FRAME_KEY_UPDATE, 0, 1, 0, 0, PT_ERR_PROTO},
        {PT_FRAME_KEY_UPDATE, 0, 8, 0, 0, PT_ERR_PROTO},
        {PT_FRAME_KEY_UPDATE, 1, 0, 0, 0, PT_ERR_PROTO},
    };
    uint8_t k[32];
    test_key(k, 14);
    uint8_t payload[300];
    for (int b = 0; b < N_BACKENDS; b++) {
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            const rule_case *c = &cases[i];
            memset(payload, 0x5a, sizeof(payload));
            if (c->plen >= 4) {
                pt_frame_put_u32(payload, c->v1);
            }
            if (c->plen >= 8) {
                pt_frame_put_u32(payload + 4, c->v2);
            }
            pt_frame_dir s;
            pt_frame_opener o;
            pair_init(&s, &o, BACKENDS[b], BACKENDS[b], k);
            size_t wl;
            uint8_t pad[4] = {9, 9, 9, 9};
            uint8_t *w = seal_exact(&s, &wl, c->type, c->sid, payload, c->plen, pad, 4);
            if (c->want == PT_ERR_OK) {
                open_expect(&o, w, wl, c->type, c->sid, payload, c->plen, 4);
            } else {
                int rc = open_expect_error(&o, w, wl);
                if (rc != c->want) {
                    fail_msg("case %zu (%s sid %u plen %zu): %s, want %s", i,
                             pt_frame_type_name(c->type), c->sid, c->plen, pt_err_name(rc),
                             pt_err_name(c->want));
                }
            }
            free(w);
            pair_cleanup(&s, &o);
        }
    }
}

/* ---- KEY_UPDATE and nonces ------------------------------------------ */

static void test_key_update(void **state)
{
    (void)state;
    uint8_t k[32], data[200];
    test_key(k, 15);
    memset(data, 0x44, sizeof(data));
    for (int b = 0; b < N_BACKENDS; b++) {
        pt_frame_dir s, old;
        pt_frame_opener o;
        pair_init(&s, &o, BACKENDS[b], BACKENDS[1 - b], k);
        /* A second sealer with the same key stands for "before the rekey". */
        assert_int_equal(pt_frame_dir_init(&old, BACKENDS[b], k), PT_ERR_OK);
        uint8_t kd0[32], kl0[32];
        memcpy(kd0, s.k_data, 32);
        memcpy(kl0, s.k_len, 32);

        size_t wl;
        uint8_t *w = seal_exact(&s, &wl, PT_FRAME_DATA, 1, data, 200, NULL, 0);
        open_expect(&o, w, wl, PT_FRAME_DATA, 1, data, 200, 0);
        free(w);
        w = seal_exact(&old, &wl, PT_FRAME_DATA, 1, data, 200, NULL, 0); /* old n=0 */
        free(w);

        w = seal_exact(&s, &wl, PT_FRAME_KEY_UPDATE, 0, NULL, 0, NULL, 0);
        /* The sealer rekeyed as soon as it sealed KEY_UPDATE. */
        assert_memory_not_equal(s.k_data, kd0, 32);
        assert_memory_not_equal(s.k_len, kl0, 32);
        ref_rekey(kd0);
        ref_rekey(kl0);
        assert_memory_equal(s.k_data, kd0, 32);
        assert_memory_equal(s.k_len, kl0, 32);
        assert_true(s.n == 2);
        open_expect(&o, w, wl, PT_FRAME_KEY_UPDATE, 0, NULL, 0, 0);
        free(w);
        /* So did the opener, before returning the frame. */
        assert_memory_equal(o.dir.k_data, kd0, 32);
        assert_memory_equal(o.dir.k_len, kl0, 32);
        assert_true(o.dir.n == 2);

        /* Later frames still open, through a second KEY_UPDATE too. */
        for (int i = 0; i < 6; i++) {
            uint8_t t = i == 3 ? PT_FRAME_KEY_UPDATE : PT_FRAME_DATA;
            size_t pl = t == PT_FRAME_DATA ? 100 + (size_t)i : 0;
            w = seal_exact(&s, &wl, t, t == PT_FRAME_DATA ? 1 : 0, data, pl, NULL, 0);
            open_expect(&o, w, wl, t, t == PT_FRAME_DATA ? 1 : 0, data, pl, 0);
            free(w);
        }

        /* A frame sealed with the pre-rekey keys does not open now. */
        pt_frame_opener o2;
        assert_int_equal(pt_frame_opener_init(&o2, BACKENDS[1 - b], k), PT_ERR_OK);
        size_t kl;
        uint8_t *ku = NULL;
        pt_frame_dir s2;
        assert_int_equal(pt_frame_dir_init(&s2, BACKENDS[b], k), PT_ERR_OK);
        ku = seal_exact(&s2, &kl, PT_FRAME_KEY_UPDATE, 0, NULL, 0, NULL, 0);
        open_expect(&o2, ku, kl, PT_FRAME_KEY_UPDATE, 0, NULL, 0, 0);
        w = seal_exact(&old, &wl, PT_FRAME_DATA, 1, data, 200, NULL, 0); /* old keys, n=1 */
        open_expect_error(&o2, w, wl);
        free(w);
        free(ku);
        pt_frame_dir_cleanup(&s2);
        pt_frame_opener_cleanup(&o2);

        pt_frame_dir_cleanup(&old);
        pair_cleanup(&s, &o);
    }
}

static void test_nonce_desync(void **state)
{
    (void)state;
    uint8_t k[32], data[64];
    test_key(k, 16);
    memset(data, 0x21, sizeof(data));
    for (int b = 0; b < N_BACKENDS; b++) {
        pt_frame_dir s;
        pt_frame_opener o;
        pair_init(&s, &o, BACKENDS[b], BACKENDS[b], k);
        size_t l0, l1;
        uint8_t *f0 = seal_exact(&s, &l0, PT_FRAME_DATA, 1, data, 64, NULL, 0);
        uint8_t *f1 = seal_exact(&s, &l1, PT_FRAME_DATA, 1, data, 64, NULL, 0);
        /* Skipped frame: the opener expects n = 0. */
        open_expect_error(&o, f1, l1);
        pt_frame_opener_cleanup(&o);
        /* Opener ahead. */
        assert_int_equal(pt_frame_opener_init(&o, BACKENDS[b], k), PT_ERR_OK);
        o.dir.n = 1;
        open_expect_error(&o, f0, l0);
        pt_frame_opener_cleanup(&o);
        /* Replay. */
        assert_int_equal(pt_frame_opener_init(&o, BACKENDS[b], k), PT_ERR_OK);
        open_expect(&o, f0, l0, PT_FRAME_DATA, 1, data, 64, 0);
        open_expect_error(&o, f0, l0);
        pt_frame_opener_cleanup(&o);
        /* In order it works. */
        assert_int_equal(pt_frame_opener_init(&o, BACKENDS[b], k), PT_ERR_OK);
        open_expect(&o, f0, l0, PT_FRAME_DATA, 1, data, 64, 0);
        open_expect(&o, f1, l1, PT_FRAME_DATA, 1, data, 64, 0);
        pt_frame_opener_cleanup(&o);
        /* Another key. */
        uint8_t k2[32];
        test_key(k2, 17);
        assert_int_equal(pt_frame_opener_init(&o, BACKENDS[b], k2), PT_ERR_OK);
        open_expect_error(&o, f0, l0);
        free(f0);
        free(f1);
        pair_cleanup(&s, &o);
    }
}

/* ---- names ------------------------------------------------------------ */

static void test_names(void **state)
{
    (void)state;
    static const char *const wire[] = {"NO_ERROR",
                                       "PROTOCOL_ERROR",
                                       "INTERNAL_ERROR",
                                       "FLOW_CONTROL_ERROR",
                                       "STREAM_CLOSED",
                                       "FRAME_SIZE_ERROR",
                                       "REFUSED_STREAM",
                                       "CANCEL",
                                       "CONNECT_ERROR",
                                       "ENHANCE_YOUR_CALM",
                                       "CONNECTION_REFUSED",
                                       "HOST_UNREACHABLE",
                                       "NETWORK_UNREACHABLE",
                                       "CONNECT_TIMEOUT",
                                       "NOT_ALLOWED",
                                       "NAME_NOT_RESOLVED",
                                       "ADDRESS_NOT_SUPPORTED",
                                       "IDLE_TIMEOUT"};
    for (uint32_t i = 0; i < sizeof(wire) / sizeof(wire[0]); i++) {
        assert_string_equal(pt_wire_err_name(i), wire[i]);
    }
    assert_string_equal(pt_wire_err_name(0x12), "UNKNOWN");
    assert_string_equal(pt_wire_err_name(0x100), "UNKNOWN");
    assert_string_equal(pt_wire_err_name(UINT32_MAX), "UNKNOWN");

    static const char *const types[] = {"DATA",          "STREAM_OPEN", "STREAM_CLOSE",
                                        "WINDOW_UPDATE", "PING",        "PONG",
                                        "GOAWAY",        "PADDING",     "KEY_UPDATE"};
    for (unsigned i = 0; i < 9; i++) {
        assert_string_equal(pt_frame_type_name(i), types[i]);
    }
    assert_string_equal(pt_frame_type_name(9), "UNKNOWN");
    assert_string_equal(pt_frame_type_name(0xff), "UNKNOWN");
    assert_string_equal(pt_frame_type_name(UINT32_MAX), "UNKNOWN");

    assert_string_equal(pt_err_name(PT_ERR_PROTO), "PT_ERR_PROTO");
    assert_string_equal(pt_err_name(PT_ERR_FRAME_SIZE), "PT_ERR_FRAME_SIZE");
    assert_string_equal(pt_err_name(12345), "PT_ERR_UNKNOWN");
    assert_true(pt_err_is_fatal(PT_ERR_DECRYPT));
    assert_false(pt_err_is_fatal(PT_ERR_AGAIN));
}

/* ---- pt_addr ------------------------------------------------------- */

static int decode_exact(pt_addr *a, const uint8_t *p, size_t n)
{
    uint8_t *blk = xmalloc(n), *buf = n ? blk : blk + 1;
    if (n) {
        memcpy(buf, p, n);
    }
    pt_cbs c;
    pt_cbs_init(&c, buf, n);
    int rc = pt_addr_decode(a, &c);
    free(blk);
    return rc;
}

static size_t encode(const pt_addr *a, uint8_t *out, size_t cap, int *rc)
{
    pt_cbb b;
    pt_cbb_init(&b, out, cap);
    *rc = pt_addr_encode(&b, a);
    return b.len;
}

static void check_addr_round_trip(const pt_addr *a, const uint8_t *want, size_t want_len)
{
    uint8_t out[PT_ADDR_MAX_ENCODED];
    int rc;
    size_t n = encode(a, out, sizeof(out), &rc);
    assert_int_equal(rc, PT_ERR_OK);
    assert_int_equal(n, want_len);
    assert_memory_equal(out, want, want_len);
    /* Exact capacity works; one byte less is NOBUFS. */
    uint8_t *tight = xmalloc(want_len);
    encode(a, tight, want_len, &rc);
    assert_int_equal(rc, PT_ERR_OK);
    encode(a, tight, want_len - 1, &rc);
    assert_int_equal(rc, PT_ERR_NOBUFS);
    free(tight);

    pt_addr back;
    assert_int_equal(decode_exact(&back, want, want_len), PT_ERR_OK);
    assert_int_equal(back.type, a->type);
    assert_int_equal(back.port, a->port);
    switch (a->type) {
    case PT_ADDR_IPV4:
        assert_memory_equal(back.u.ipv4, a->u.ipv4, 4);
        break;
    case PT_ADDR_IPV6:
        assert_memory_equal(back.u.ipv6, a->u.ipv6, 16);
        break;
    default:
        assert_int_equal(back.domain_len, a->domain_len);
        assert_memory_equal(back.u.domain, a->u.domain, a->domain_len);
        assert_int_equal(back.u.domain[back.domain_len], 0);
        assert_int_equal(strlen(back.u.domain), back.domain_len);
        break;
    }
    /* Every truncation is PROTO; a trailing byte is PROTO. */
    for (size_t cut = 0; cut < want_len; cut++) {
        int r = decode_exact(&back, want, cut);
        if (r != PT_ERR_PROTO) {
            fail_msg("truncated to %zu of %zu: %s", cut, want_len, pt_err_name(r));
        }
    }
    uint8_t *longer = xmalloc(want_len + 1);
    memcpy(longer, want, want_len);
    longer[want_len] = 0;
    assert_int_equal(decode_exact(&back, longer, want_len + 1), PT_ERR_PROTO);
    free(longer);
}

static void test_addr_ipv4_ipv6(void **state)
{
    (void)state;
    pt_addr a;
    char s[128];

    memset(&a, 0, sizeof(a));
    a.type = PT_ADDR_IPV4;
    memcpy(a.u.ipv4, "\x01\x02\x03\x04", 4);
    a.port = 80;
    static const uint8_t v4[] = {0x01, 1, 2, 3, 4, 0x00, 0x50};
    check_addr_round_trip(&a, v4, sizeof(v4));
    pt_addr_format(&a, s, sizeof(s));
    assert_string_equal(s, "1.2.3.4:80");
    memcpy(a.u.ipv4, "\xff\xff\xff\xff", 4);
    a.port = 65535;
    pt_addr_format(&a, s, sizeof(s));
    assert_string_equal(s, "255.255.255.255:65535");

    memset(&a, 0, sizeof(a));
    a.type = PT_ADDR_IPV6;
    static const uint8_t ip6[16] = {0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00, 0x02,
                                    0x00, 0x03, 0x00, 0x04, 0xab, 0xcd, 0xef, 0x01};
    memcpy(a.u.ipv6, ip6, 16);
    a.port = 8443;
    uint8_t v6[19];
    v6[0] = 0x04;
    memcpy(v6 + 1, ip6, 16);
    v6[17] = 0x20;
    v6[18] = 0xfb;
    check_addr_round_trip(&a, v6, sizeof(v6));
    pt_addr_format(&a, s, sizeof(s));
    assert_string_equal(s, "[2001:db8:1:2:3:4:abcd:ef01]:8443");

    /* Truncated output stays NUL-terminated within |cap|. */
    memset(s, 'x', sizeof(s));
    pt_addr_format(&a, s, 6);
    assert_int_equal(strlen(s), 5);
}

/* pt_addr.h documents "[::1]:443" for the loopback address. */
static void test_addr_format_ipv6_loopback(void **state)
{
    (void)state;
    pt_addr a;
    char s[128];
    memset(&a, 0, sizeof(a));
    a.type = PT_ADDR_IPV6;
    a.u.ipv6[15] = 1;
    a.port = 443;
    pt_addr_format(&a, s, sizeof(s));
    assert_string_equal(s, "[::1]:443");
}

static void test_addr_domain(void **state)
{
    (void)state;
    pt_addr a;
    char s[300];
    uint8_t enc[PT_ADDR_MAX_ENCODED];

    assert_int_equal(pt_addr_set_domain(&a, "example.com", 443), PT_ERR_OK);
    assert_int_equal(a.type, PT_ADDR_DOMAIN);
    assert_int_equal(a.domain_len, 11);
    static const uint8_t ex[] = {0x03, 11,  'e', 'x', 'a', 'm',  'p', 'l',
                                 'e',  '.', 'c', 'o', 'm', 0x01, 0xbb};
    check_addr_round_trip(&a, ex, sizeof(ex));
    pt_addr_format(&a, s, sizeof(s));
    assert_string_equal(s, "example.com:443");

    /* 1 byte. */
    assert_int_equal(pt_addr_set_domain(&a, "a", 1), PT_ERR_OK);
    static const uint8_t one[] = {0x03, 1, 'a', 0x00, 0x01};
    check_addr_round_trip(&a, one, sizeof(one));
    pt_addr_format(&a, s, sizeof(s));
    assert_string_equal(s, "a:1");

    /* 255 bytes, every allowed byte value used. */
    char host[256];
    for (int i = 0; i < 255; i++) {
        host[i] = (char)(0x21 + i % (0x7e - 0x21 + 1));
    }
    host[255] = 0;
    assert_int_equal(pt_addr_set_domain(&a, host, 0), PT_ERR_OK);
    assert_int_equal(a.domain_len, 255);
    enc[0] = 0x03;
    enc[1] = 255;
    memcpy(enc + 2, host, 255);
    enc[257] = 0;
    enc[258] = 0;
    check_addr_round_trip(&a, enc, 259);
    pt_addr_format(&a, s, sizeof(s));
    assert_int_equal(strlen(s), 255 + 2);
    assert_memory_equal(s, host, 255);
    assert_string_equal(s + 255, ":0");

    /* set_domain refuses empty, too long, space, control, DEL, 8-bit. */
    assert_int_equal(pt_addr_set_domain(&a, "", 1), PT_ERR_INVAL);
    char longhost[257];
    memset(longhost, 'a', 256);
    longhost[256] = 0;
    assert_int_equal(pt_addr_set_domain(&a, longhost, 1), PT_ERR_INVAL);
    assert_int_equal(pt_addr_set_domain(&a, "a b", 1), PT_ERR_INVAL);
    assert_int_equal(pt_addr_set_domain(&a, "a\tb", 1), PT_ERR_INVAL);
    assert_int_equal(pt_addr_set_domain(&a, "a\x7f", 1), PT_ERR_INVAL);
    assert_int_equal(pt_addr_set_domain(&a, "\xc3\xa9t\xc3\xa9", 1), PT_ERR_INVAL);
    assert_int_equal(pt_addr_set_domain(&a, "!~", 1), PT_ERR_OK);

    /* encode refuses a domain it could not have decoded, and bad types. */
    int rc;
    memset(&a, 0, sizeof(a));
    a.type = PT_ADDR_DOMAIN;
    a.domain_len = 0;
    encode(&a, enc, sizeof(enc), &rc);
    assert_int_equal(rc, PT_ERR_INVAL);
    memcpy(a.u.domain, "a b", 3);
    a.domain_len = 3;
    encode(&a, enc, sizeof(enc), &rc);
    assert_int_equal(rc, PT_ERR_INVAL);
    static const uint8_t bad_types[] = {0x00, 0x02, 0x05, 0xff};
    for (size_t i = 0; i < sizeof(bad_types); i++) {
        a.type = bad_types[i];
        encode(&a, enc, sizeof(enc), &rc);
        assert_int_equal(rc, PT_ERR_INVAL);
    }
}

static void test_addr_decode_errors(void **state)
{
    (void)state;
    pt_addr a;

    /* Unknown types: NOTFOUND, whatever follows. */
    static const uint8_t unknown[] = {0x00, 0x02, 0x05, 0x06, 0x7f, 0xff};
    for (size_t i = 0; i < sizeof(unknown); i++) {
        uint8_t m[7] = {unknown[i], 1, 2, 3, 4, 0, 80};
        assert_int_equal(decode_exact(&a, m, 7), PT_ERR_NOTFOUND);
        assert_int_equal(decode_exact(&a, m, 1), PT_ERR_NOTFOUND);
    }
    /* Empty input. */
    assert_int_equal(decode_exact(&a, NULL, 0), PT_ERR_PROTO);

    /* Empty domain. */
    static const uint8_t empty[] = {0x03, 0, 0, 80};
    assert_int_equal(decode_exact(&a, empty, sizeof(empty)), PT_ERR_PROTO);

    /* A forbidden byte at the start, middle or end of the name. */
    static const uint8_t forbidden[] = {0x00, 0x01, 0x09, 0x0a, 0x1f, 0x20, 0x7f, 0x80, 0xff};
    for (size_t i = 0; i < sizeof(forbidden); i++) {
        for (size_t pos = 0; pos < 5; pos += 2) {
            uint8_t m[9] = {0x03, 5, 'a', 'b', 'c', 'd', 'e', 0x01, 0xbb};
            m[2 + pos] = forbidden[i];
            int rc = decode_exact(&a, m, sizeof(m));
            if (rc != PT_ERR_PROTO) {
                fail_msg("domain byte 0x%02x at %zu: %s", forbidden[i], pos, pt_err_name(rc));
            }
        }
    }
    /* The edges of the allowed range decode. */
    static const uint8_t edges[] = {0x03, 2, 0x21, 0x7e, 0x00, 0x35};
    assert_int_equal(decode_exact(&a, edges, sizeof(edges)), PT_ERR_OK);
    assert_string_equal(a.u.domain, "!~");
    assert_int_equal(a.port, 53);

    /* Domain length byte claiming more than there is. */
    static const uint8_t over[] = {0x03, 10, 'a', 'b', 0x00, 0x50};
    assert_int_equal(decode_exact(&a, over, sizeof(over)), PT_ERR_PROTO);
    /* Trailing bytes after an IPv6 address. */
    uint8_t v6[21] = {0x04};
    assert_int_equal(decode_exact(&a, v6, 19), PT_ERR_OK);
    assert_int_equal(decode_exact(&a, v6, 20), PT_ERR_PROTO);
    assert_int_equal(decode_exact(&a, v6, 21), PT_ERR_PROTO);
}

/* ---- pt_key ------------------------------------------------------- */

static int key_from_exact(uint8_t key[32], const char *s, size_t n)
{
    uint8_t *blk = xmalloc(n);
    char *buf = (char *)(n ? blk : blk + 1);
    if (n) {
        memcpy(buf, s, n);
    }
    int rc = pt_key_from_base64(key, buf, n);
    free(blk);
    return rc;
}

static void test_key_base64(void **state)
{
    (void)state;
    uint8_t key[32], back[32];
    char b64[PT_KEY_B64_LEN + 1];

    /* Known answers. */
    for (int i = 0; i < 32; i++) {
        key[i] = (uint8_t)i;
    }
    pt_key_to_base64(b64, key);
    assert_string_equal(b64, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
    memset(key, 0, 32);
    pt_key_to_base64(b64, key);
    assert_string_equal(b64, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    memset(key, 0xff, 32);
    pt_key_to_base64(b64, key);
    assert_string_equal(b64, "//////////////////////////////////////////8=");
    assert_int_equal(key_from_exact(back, b64, 44), PT_ERR_OK);
    assert_memory_equal(back, key, 32);

    /* Round trips (strings without their NUL, exact-size). */
    uint64_t seed = 2024;
    for (int i = 0; i < 200; i++) {
        rng_fill(&seed, key, 32);
        pt_key_to_base64(b64, key);
        assert_int_equal(strlen(b64), 44);
        assert_int_equal(b64[43], '=');
        memset(back, 0, 32);
        assert_int_equal(key_from_exact(back, b64, 44), PT_ERR_OK);
        assert_memory_equal(back, key, 32);
    }

    /* Surrounding white space is ignored. */
    rng_fill(&seed, key, 32);
    pt_key_to_base64(b64, key);
    char padded[64];
    snprintf(padded, sizeof(padded), " \t\r\n%s\n\r\t ", b64);
    memset(back, 0, 32);
    assert_int_equal(key_from_exact(back, padded, strlen(padded)), PT_ERR_OK);
    assert_memory_equal(back, key, 32);
    snprintf(padded, sizeof(padded), "%s\n", b64);
    assert_int_equal(key_from_exact(back, padded, strlen(padded)), PT_ERR_OK);
    /* ... but not inside. */
    snprintf(padded, sizeof(padded), "%.20s %s", b64, b64 + 20);
    assert_int_equal(key_from_exact(back, padded, 45), PT_ERR_INVAL);

    /* Wrong lengths. */
    assert_int_equal(key_from_exact(back, b64, 43), PT_ERR_INVAL);
    assert_int_equal(key_from_exact(back, b64, 0), PT_ERR_INVAL);
    assert_int_equal(key_from_exact(back, "   ", 3), PT_ERR_INVAL);
    snprintf(padded, sizeof(padded), "%sA", b64);
    assert_int_equal(key_from_exact(back, padded, 45), PT_ERR_INVAL);
    snprintf(padded, sizeof(padded), "A%s", b64);
    assert_int_equal(key_from_exact(back, padded, 45), PT_ERR_INVAL);
    snprintf(padded, sizeof(padded), "%.43sAA", b64); /* 45, no '=' */
    assert_int_equal(key_from_exact(back, padded, 45), PT_ERR_INVAL);
    snprintf(padded, sizeof(padded), "%.43sA", b64); /* 44 data chars: 33 bytes */
    assert_int_equal(key_from_exact(back, padded, 44), PT_ERR_INVAL);
    snprintf(padded, sizeof(padded), "%.42s==", b64); /* 31 bytes */
    assert_int_equal(key_from_exact(back, padded, 44), PT_ERR_INVAL);
    /* The NUL counted in the length is not white space. */
    assert_int_equal(pt_key_from_base64(back, b64, 45), PT_ERR_INVAL);

    /* Bad characters at every position. */
    static const char bad[] = {'!', '-', '_', '.', '*', '\0', '\x7f'};
    for (size_t pos = 0; pos < 44; pos++) {
        for (size_t j = 0; j < sizeof(bad); j++) {
            char m[44];
            memcpy(m, b64, 44);
            m[pos] = bad[j];
            int rc = key_from_exact(back, m, 44);
            if (rc != PT_ERR_INVAL) {
                fail_msg("char 0x%02x at %zu accepted", (unsigned char)bad[j], pos);
            }
        }
    }
    /* '=' in the middle. */
    char m[44];
    memcpy(m, b64, 44);
    m[10] = '=';
    assert_int_equal(key_from_exact(back, m, 44), PT_ERR_INVAL);

    /* Non-canonical: 43 data characters hold 258 bits, so the last one
     * carries the key's last 4 bits and 2 zero bits; setting either of
     * those gives another string for the same key, which must be refused. */
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int t = 0; t < 8; t++) {
        rng_fill(&seed, key, 32);
        pt_key_to_base64(b64, key);
        const char *at = strchr(alpha, b64[42]);
        assert_non_null(at);
        unsigned v = (unsigned)(at - alpha);
        assert_int_equal(v & 0x03, 0); /* canonical output */
        for (unsigned low = 1; low < 4; low++) {
            memcpy(m, b64, 44);
            m[42] = alpha[v | low];
            int rc = key_from_exact(back, m, 44);
            if (rc != PT_ERR_INVAL) {
                fail_msg("non-canonical '%c' for '%c' accepted", m[42], b64[42]);
            }
        }
        /* Changing a data bit is a different, valid key. */
        memcpy(m, b64, 44);
        m[42] = alpha[v ^ 0x04];
        assert_int_equal(key_from_exact(back, m, 44), PT_ERR_OK);
        assert_memory_equal(back, key, 31);
        assert_int_equal(back[31], key[31] ^ 0x01);
    }
}

/* Every byte outside the base64 alphabet is a bad character, including the
 * 8-bit ones (0x80..0xff), wherever it stands. */
static void test_key_base64_every_byte(void **state)
{
    (void)state;
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint8_t key[32], back[32];
    char b64[PT_KEY_B64_LEN + 1], m[44];
    memset(key, 0, sizeof(key));
    pt_key_to_base64(b64, key); /* "AAAA...A=" */
    static const size_t positions[] = {0, 21, 41};
    int accepted = 0;
    char first[64] = "";
    for (size_t pi = 0; pi < 3; pi++) {
        for (int c = 0; c < 256; c++) {
            if (c != 0 && strchr(alpha, c)) {
                continue;
            }
            memcpy(m, b64, 44);
            m[positions[pi]] = (char)c;
            /* Leading / trailing white space is trimmed, so skip those. */
            if ((c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') &&
                positions[pi] == 0) {
                continue;
            }
            if (key_from_exact(back, m, 44) != PT_ERR_INVAL) {
                if (!accepted) {
                    snprintf(first, sizeof(first), "byte 0x%02x at %zu", c, positions[pi]);
                }
                accepted++;
            }
        }
    }
    if (accepted) {
        fail_msg("%d non-alphabet bytes accepted, first: %s", accepted, first);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_derivation),
        cmocka_unit_test(test_seal_matches_reference),
        cmocka_unit_test(test_seal_in_place_and_overlap),
        cmocka_unit_test(test_round_trip_all_types),
        cmocka_unit_test(test_fixed_payload_helpers),
        cmocka_unit_test(test_pad_len),
        cmocka_unit_test(test_split_byte_by_byte),
        cmocka_unit_test(test_split_random_chunks),
        cmocka_unit_test(test_two_frames_in_one_buffer),
        cmocka_unit_test(test_again_reports),
        cmocka_unit_test(test_tamper_every_byte),
        cmocka_unit_test(test_truncated_never_opens),
        cmocka_unit_test(test_oversize_and_limits),
        cmocka_unit_test(test_crafted_frames),
        cmocka_unit_test(test_seal_nonce_exhausted),
        cmocka_unit_test(test_type_rules),
        cmocka_unit_test(test_key_update),
        cmocka_unit_test(test_nonce_desync),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_addr_ipv4_ipv6),
        cmocka_unit_test(test_addr_format_ipv6_loopback),
        cmocka_unit_test(test_addr_domain),
        cmocka_unit_test(test_addr_decode_errors),
        cmocka_unit_test(test_key_base64),
        cmocka_unit_test(test_key_base64_every_byte),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
