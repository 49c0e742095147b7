/* test_pt_noise.c — core/pt_noise.c: the public Noise IK vectors (read from
 * ../shared, never copied here), round trips with random keys, tampering,
 * the CipherState rules and the state / buffer checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <sodium.h>

#include "pt_err.h"
#include "pt_noise.h"
#include "testutil.h"

#define VEC_BUF 1024 /* the vectors' messages are all far below this */

/* ---- helpers ---------------------------------------------------------- */

typedef struct party {
    uint8_t priv[32];
    uint8_t pub[32];
} party;

static void make_party(party *p)
{
    assert_int_equal(pt_noise_keypair(p->priv, p->pub), PT_ERR_OK);
}

static pt_noise_config make_cfg(pt_noise_hash hash, int psk_pos, const uint8_t *psk,
                                const uint8_t *s_priv, const uint8_t *rs,
                                const uint8_t *fixed_e)
{
    static const uint8_t prologue[] = "phantom-tunnel test prologue";
    pt_noise_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.hash = hash;
    cfg.psk_pos = psk_pos;
    cfg.psk = psk;
    cfg.prologue = prologue;
    cfg.prologue_len = sizeof prologue - 1;
    cfg.local_static_priv = s_priv;
    cfg.remote_static_pub = rs;
    cfg.fixed_ephemeral_priv = fixed_e;
    return cfg;
}

/* ---- 1. the public vectors -------------------------------------------- */

/* parse_name maps a vector's protocol_name onto a config; 0 if it is not
 * one of the six names this module implements. */
static int parse_name(const char *name, pt_noise_hash *hash, int *psk_pos)
{
    static const struct {
        const char *hash_name;
        pt_noise_hash hash;
    } hashes[] = {{"SHA256", PT_NOISE_HASH_SHA256}, {"BLAKE2b", PT_NOISE_HASH_BLAKE2B}};
    static const struct {
        const char *mod;
        int pos;
    } mods[] = {{"", -1}, {"psk1", 1}, {"psk2", 2}};
    char want[80];

    for (size_t i = 0; i < sizeof hashes / sizeof hashes[0]; i++) {
        for (size_t j = 0; j < sizeof mods / sizeof mods[0]; j++) {
            snprintf(want, sizeof want, "Noise_IK%s_25519_ChaChaPoly_%s", mods[j].mod,
                     hashes[i].hash_name);
            if (strcmp(name, want) == 0) {
                *hash = hashes[i].hash;
                *psk_pos = mods[j].pos;
                return 1;
            }
        }
    }
    return 0;
}

/* get_psk reads the single psk of a psk vector (0 psks otherwise). */
static int get_psk(const json_t *v, const char *key, int psk_pos, uint8_t psk[32])
{
    const json_t *arr = json_object_get(v, key);
    size_t n = arr != NULL && json_is_array(arr) ? json_array_size(arr) : 0;

    if (psk_pos < 0) {
        return n == 0;
    }
    if (n != 1 || !json_is_string(json_array_get(arr, 0))) {
        return 0;
    }
    return tu_hex_decode(psk, 32, json_string_value(json_array_get(arr, 0))) == 32;
}

#define VFAIL(...)                                                                                 \
    do {                                                                                           \
        printf("  FAIL %s [%zu] %s: ", file, index, name);                                         \
        printf(__VA_ARGS__);                                                                       \
        printf("\n");                                                                              \
        goto out;                                                                                  \
    } while (0)

/* run_vector plays one vector through both sides; returns 1 if every byte
 * matched. */
static int run_vector(const char *file, size_t index, const json_t *v)
{
    uint8_t i_static[32], i_eph[32], i_rs[32], r_static[32], r_eph[32], i_static_pub[32];
    uint8_t i_psk[32] = {0}, r_psk[32] = {0};
    uint8_t i_prologue[VEC_BUF], r_prologue[VEC_BUF];
    uint8_t hh[PT_NOISE_MAX_HASH_LEN], h_i[PT_NOISE_MAX_HASH_LEN], h_r[PT_NOISE_MAX_HASH_LEN];
    uint8_t ki_send[32], ki_recv[32], kr_send[32], kr_recv[32];
    uint8_t payload[VEC_BUF], ct[VEC_BUF], out[VEC_BUF], pt[VEC_BUF];
    pt_noise_handshake ini, resp;
    pt_noise_cipher i_send, i_recv, r_send, r_recv;
    pt_noise_config icfg, rcfg;
    pt_noise_hash hash;
    int psk_pos;
    long ipl, rpl, hh_len = -1;
    size_t h_i_len = 0, h_r_len = 0, out_len, pt_len;
    int ok = 0, rc;
    const json_t *jname = json_object_get(v, "protocol_name");
    const char *name = json_is_string(jname) ? json_string_value(jname) : "(no protocol_name)";
    const json_t *msgs = json_object_get(v, "messages");

    memset(&ini, 0, sizeof ini);
    memset(&resp, 0, sizeof resp);
    pt_noise_cipher_init(&i_send, NULL);
    pt_noise_cipher_init(&i_recv, NULL);
    pt_noise_cipher_init(&r_send, NULL);
    pt_noise_cipher_init(&r_recv, NULL);

    if (!parse_name(name, &hash, &psk_pos)) {
        VFAIL("protocol name not understood");
    }
    if (tu_json_hex(v, "init_static", i_static, 32) != 32 ||
        tu_json_hex(v, "init_ephemeral", i_eph, 32) != 32 ||
        tu_json_hex(v, "init_remote_static", i_rs, 32) != 32 ||
        tu_json_hex(v, "resp_static", r_static, 32) != 32 ||
        tu_json_hex(v, "resp_ephemeral", r_eph, 32) != 32) {
        VFAIL("missing or bad key field");
    }
    if (pt_noise_pubkey(i_static_pub, i_static) != PT_ERR_OK) {
        VFAIL("pt_noise_pubkey failed");
    }
    ipl = tu_json_hex(v, "init_prologue", i_prologue, sizeof i_prologue);
    rpl = tu_json_hex(v, "resp_prologue", r_prologue, sizeof r_prologue);
    if (ipl < 0 || rpl < 0) {
        VFAIL("missing or bad prologue");
    }
    if (!get_psk(v, "init_psks", psk_pos, i_psk) || !get_psk(v, "resp_psks", psk_pos, r_psk)) {
        VFAIL("psk fields do not match the protocol name");
    }
    if (json_object_get(v, "handshake_hash") != NULL) {
        hh_len = tu_json_hex(v, "handshake_hash", hh, sizeof hh);
        if (hh_len != (long)pt_noise_hash_len(hash)) {
            VFAIL("bad handshake_hash length %ld", hh_len);
        }
    }
    if (!json_is_array(msgs) || json_array_size(msgs) < 2) {
        VFAIL("fewer than 2 messages");
    }

    icfg = make_cfg(hash, psk_pos, psk_pos >= 0 ? i_psk : NULL, i_static, i_rs, i_eph);
    icfg.prologue = i_prologue;
    icfg.prologue_len = (size_t)ipl;
    rcfg = make_cfg(hash, psk_pos, psk_pos >= 0 ? r_psk : NULL, r_static, NULL, r_eph);
    rcfg.prologue = r_prologue;
    rcfg.prologue_len = (size_t)rpl;
    if ((rc = pt_noise_handshake_init(&ini, PT_NOISE_INITIATOR, &icfg)) != PT_ERR_OK ||
        (rc = pt_noise_handshake_init(&resp, PT_NOISE_RESPONDER, &rcfg)) != PT_ERR_OK) {
        VFAIL("handshake_init: %s", pt_err_name(rc));
    }

    for (size_t m = 0; m < json_array_size(msgs); m++) {
        const json_t *jm = json_array_get(msgs, m);
        long pl = tu_json_hex(jm, "payload", payload, sizeof payload);
        long cl = tu_json_hex(jm, "ciphertext", ct, sizeof ct);
        int from_ini = m % 2 == 0;

        if (pl < 0 || cl < 0) {
            VFAIL("message %zu: bad payload / ciphertext", m);
        }
        /* The sender must produce the vector's ciphertext byte for byte... */
        if (m == 0) {
            /* -> e, es, s, ss [, psk] */
            rc = pt_noise_handshake_create_init(&ini, out, sizeof out, &out_len, payload,
                                                (size_t)pl);
        } else if (m == 1) {
            /* <- e, ee, se [, psk] */
            rc = pt_noise_handshake_create_resp(&resp, out, sizeof out, &out_len, payload,
                                                (size_t)pl);
        } else {
            rc = pt_noise_cipher_encrypt(from_ini ? &i_send : &r_send, out, sizeof out, &out_len,
                                         NULL, 0, payload, (size_t)pl);
        }
        if (rc != PT_ERR_OK) {
            VFAIL("message %zu: sending: %s", m, pt_err_name(rc));
        }
        if (out_len != (size_t)cl || memcmp(out, ct, out_len) != 0) {
            VFAIL("message %zu: ciphertext differs", m);
        }

        /* ...and the receiver must get the payload back from the vector's
         * ciphertext. */
        if (m == 0) {
            rc = pt_noise_handshake_consume_init(&resp, pt, sizeof pt, &pt_len, ct, (size_t)cl);
        } else if (m == 1) {
            rc = pt_noise_handshake_consume_resp(&ini, pt, sizeof pt, &pt_len, ct, (size_t)cl);
        } else {
            rc = pt_noise_cipher_decrypt(from_ini ? &r_recv : &i_recv, pt, sizeof pt, &pt_len,
                                         NULL, 0, ct, (size_t)cl);
        }
        if (rc != PT_ERR_OK) {
            VFAIL("message %zu: receiving: %s", m, pt_err_name(rc));
        }
        if (pt_len != (size_t)pl || memcmp(pt, payload, pt_len) != 0) {
            VFAIL("message %zu: decrypted payload differs", m);
        }
        if (m == 0 && (pt_noise_handshake_remote_static(&resp) == NULL ||
                       memcmp(pt_noise_handshake_remote_static(&resp), i_static_pub, 32) != 0)) {
            VFAIL("responder did not learn the initiator's static key");
        }

        if (m == 1) {
            if ((rc = pt_noise_handshake_split(&ini, ki_send, ki_recv, h_i, &h_i_len)) !=
                    PT_ERR_OK ||
                (rc = pt_noise_handshake_split(&resp, kr_send, kr_recv, h_r, &h_r_len)) !=
                    PT_ERR_OK) {
                VFAIL("split: %s", pt_err_name(rc));
            }
            if (memcmp(ki_send, kr_recv, 32) != 0 || memcmp(ki_recv, kr_send, 32) != 0) {
                VFAIL("split keys do not pair up");
            }
            if (h_i_len != pt_noise_hash_len(hash) || h_r_len != h_i_len ||
                memcmp(h_i, h_r, h_i_len) != 0) {
                VFAIL("handshake hashes differ between the sides");
            }
            if (hh_len >= 0 && memcmp(h_i, hh, (size_t)hh_len) != 0) {
                VFAIL("handshake_hash differs");
            }
            pt_noise_cipher_init(&i_send, ki_send);
            pt_noise_cipher_init(&i_recv, ki_recv);
            pt_noise_cipher_init(&r_send, kr_send);
            pt_noise_cipher_init(&r_recv, kr_recv);
        }
    }
    ok = 1;
out:
    pt_noise_handshake_cleanup(&ini);
    pt_noise_handshake_cleanup(&resp);
    pt_noise_cipher_cleanup(&i_send);
    pt_noise_cipher_cleanup(&i_recv);
    pt_noise_cipher_cleanup(&r_send);
    pt_noise_cipher_cleanup(&r_recv);
    return ok;
}

/* run_file runs every vector of one file; the counts go to |*run| and
 * |*passed|. A file that cannot be read counts as one failed vector. */
static void run_file(const char *file, size_t *run, size_t *passed)
{
    char path[4096];
    json_t *root, *vecs;
    size_t p = 0, n = 0;

    tu_shared_path(path, sizeof path, "vectors/noise");
    snprintf(path + strlen(path), sizeof path - strlen(path), "/%s", file);
    root = tu_load_json(path);
    vecs = root != NULL ? json_object_get(root, "vectors") : NULL;
    if (vecs == NULL || !json_is_array(vecs) || json_array_size(vecs) == 0) {
        printf("noise vectors: %s: no vectors\n", file);
        *run += 1;
        json_decref(root);
        return;
    }
    for (size_t i = 0; i < json_array_size(vecs); i++) {
        n++;
        p += (size_t)run_vector(file, i, json_array_get(vecs, i));
    }
    printf("noise vectors: %s %zu/%zu passed\n", file, p, n);
    *run += n;
    *passed += p;
    json_decref(root);
}

static void test_vectors(void **state)
{
    static const char *const files[] = {"cacophony-ik.json", "snow-ik.json"};
    size_t run[2] = {0, 0}, passed[2] = {0, 0};
    size_t total_run = 0, total_passed = 0;
    char dir[4096];
    struct stat st;
    (void)state;

    tu_shared_path(dir, sizeof dir, "vectors/noise");
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        printf("noise vectors: ../shared/vectors/noise not found — SKIPPED (looked in %s)\n",
               dir);
        skip();
        return;
    }
    for (size_t i = 0; i < 2; i++) {
        run_file(files[i], &run[i], &passed[i]);
        total_run += run[i];
        total_passed += passed[i];
    }
    printf("noise vectors: %zu/%zu passed (%s %zu, %s %zu)\n", total_passed, total_run, files[0],
           passed[0], files[1], passed[1]);
    assert_int_equal(total_passed, total_run);
    assert_true(total_run >= 8);
}

/* ---- HKDF / HMAC known answers ----------------------------------------- */

static void test_hkdf_known_answers(void **state)
{
    /* RFC 5869 test case 3 (SHA-256, IKM = 0x0b * 22, no salt, no info):
     * an empty salt is HMAC's zero key, the same as ck = 32 zero bytes, and
     * Noise's HKDF outputs are T(1), T(2), T(3) with an empty info. */
    static const char okm_sha256[] =
        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
        "9d201395faa4b61a96c8b2fb61057244b36c6ddd287f634795e7d80d5fe26bfc"
        "36def6dc129c29271a0eb7ab14bd2ca88259f8a3a92ac2ec0e3e4fa046a4b90b";
    /* HMAC-BLAKE2b per RFC 2104 (not keyed BLAKE2b), ck = 00 01 .. 3f:
     * computed with Python's hmac + hashlib.blake2b. */
    static const char okm_blake2b[] =
        "351669c054c4349d00abfaa0d9eeb89abb2ac562b061acd3d90a7a345341625b"
        "c8bff0e8f99d22d6feedd55a98b80d6017196e74ff4caaa551808a8e0f105c66"
        "addd7d00fb71b715dd1bc1babae38712ede4135c8cc5f014416bb0c2660a18f7"
        "5fd4f5cd11e8b605f96b425ebea251be71872247648774e68e2781da6116c1ff"
        "01ea01d9c02426fc842e4b9d603a726bd29dc67a006f17e8851b91590a2336c0"
        "9732899d92c18dde944b30c9f69eaf02693a94bd0591f8b80216647b35e68030";
    uint8_t ck[64], ikm[22], want[192], got[192];
    (void)state;

    memset(ikm, 0x0b, sizeof ikm);
    memset(ck, 0, sizeof ck);
    assert_int_equal(pt_noise_hash_len(PT_NOISE_HASH_SHA256), 32);
    assert_int_equal(pt_noise_hash_len(PT_NOISE_HASH_BLAKE2B), 64);

    assert_int_equal(tu_hex_decode(want, sizeof want, okm_sha256), 96);
    pt_noise_hkdf(PT_NOISE_HASH_SHA256, ck, ikm, sizeof ikm, got, got + 32, got + 64);
    assert_memory_equal(got, want, 96);
    /* Two outputs give the same first two. */
    memset(got, 0, sizeof got);
    pt_noise_hkdf(PT_NOISE_HASH_SHA256, ck, ikm, sizeof ikm, got, got + 32, NULL);
    assert_memory_equal(got, want, 64);

    for (size_t i = 0; i < 64; i++) {
        ck[i] = (uint8_t)i;
    }
    assert_int_equal(tu_hex_decode(want, sizeof want, okm_blake2b), 192);
    pt_noise_hkdf(PT_NOISE_HASH_BLAKE2B, ck, ikm, sizeof ikm, got, got + 64, got + 128);
    assert_memory_equal(got, want, 192);

    /* MixKey writes ck over its own input. */
    pt_noise_hkdf(PT_NOISE_HASH_BLAKE2B, ck, ikm, sizeof ikm, ck, got, NULL);
    assert_memory_equal(ck, want, 64);
}

/* ---- 2. round trips ------------------------------------------------------ */

/* handshake runs a full IK handshake and checks that both sides agree;
 * |ini| and |resp| are left in DONE for the caller to clean up. */
static void handshake(pt_noise_handshake *ini, pt_noise_handshake *resp, pt_noise_hash hash,
                      int psk_pos, const party *a, const party *b, size_t payload_len)
{
    static uint8_t psk[32] = {1, 2, 3, 4};
    uint8_t *payload = malloc(payload_len + 1);
    uint8_t *msg = malloc(payload_len + 96);
    uint8_t *got = malloc(payload_len + 1);
    uint8_t ki_s[32], ki_r[32], kr_s[32], kr_r[32], hi[64], hr[64];
    uint8_t data[64], ct[80], pt[64];
    size_t msg_len, got_len, hi_len, hr_len, n;
    pt_noise_cipher c_is, c_ir, c_rs, c_rr;
    pt_noise_config icfg = make_cfg(hash, psk_pos, psk_pos >= 0 ? psk : NULL, a->priv, b->pub,
                                    NULL);
    pt_noise_config rcfg = make_cfg(hash, psk_pos, psk_pos >= 0 ? psk : NULL, b->priv, NULL,
                                    NULL);

    assert_non_null(payload);
    assert_non_null(msg);
    assert_non_null(got);
    randombytes_buf(payload, payload_len + 1);

    assert_int_equal(pt_noise_handshake_init(ini, PT_NOISE_INITIATOR, &icfg), PT_ERR_OK);
    assert_int_equal(pt_noise_handshake_init(resp, PT_NOISE_RESPONDER, &rcfg), PT_ERR_OK);
    assert_null(pt_noise_handshake_remote_static(resp));
    assert_memory_equal(pt_noise_handshake_remote_static(ini), b->pub, 32);

    assert_int_equal(pt_noise_handshake_create_init(ini, msg, payload_len + 96, &msg_len, payload,
                                                    payload_len),
                     PT_ERR_OK);
    assert_int_equal(msg_len, 96 + payload_len);
    assert_int_equal(pt_noise_handshake_consume_init(resp, got, payload_len + 1, &got_len, msg,
                                                     msg_len),
                     PT_ERR_OK);
    assert_int_equal(got_len, payload_len);
    if (payload_len > 0) {
        assert_memory_equal(got, payload, payload_len);
    }
    /* The responder now knows who is calling. */
    assert_non_null(pt_noise_handshake_remote_static(resp));
    assert_memory_equal(pt_noise_handshake_remote_static(resp), a->pub, 32);

    assert_int_equal(pt_noise_handshake_create_resp(resp, msg, payload_len + 48, &msg_len, payload,
                                                    payload_len),
                     PT_ERR_OK);
    assert_int_equal(msg_len, 48 + payload_len);
    assert_int_equal(pt_noise_handshake_consume_resp(ini, got, payload_len, &got_len, msg,
                                                     msg_len),
                     PT_ERR_OK);
    assert_int_equal(got_len, payload_len);
    if (payload_len > 0) {
        assert_memory_equal(got, payload, payload_len);
    }
    assert_int_equal(ini->state, PT_NOISE_HS_DONE);
    assert_int_equal(resp->state, PT_NOISE_HS_DONE);

    assert_int_equal(pt_noise_handshake_split(ini, ki_s, ki_r, hi, &hi_len), PT_ERR_OK);
    assert_int_equal(pt_noise_handshake_split(resp, kr_s, kr_r, hr, &hr_len), PT_ERR_OK);
    assert_memory_equal(ki_s, kr_r, 32);
    assert_memory_equal(ki_r, kr_s, 32);
    assert_memory_not_equal(ki_s, ki_r, 32);
    assert_int_equal(hi_len, pt_noise_hash_len(hash));
    assert_int_equal(hr_len, hi_len);
    assert_memory_equal(hi, hr, hi_len);

    /* Transport both ways. */
    pt_noise_cipher_init(&c_is, ki_s);
    pt_noise_cipher_init(&c_ir, ki_r);
    pt_noise_cipher_init(&c_rs, kr_s);
    pt_noise_cipher_init(&c_rr, kr_r);
    randombytes_buf(data, sizeof data);
    assert_int_equal(pt_noise_cipher_encrypt(&c_is, ct, sizeof ct, &n, NULL, 0, data, 64),
                     PT_ERR_OK);
    assert_int_equal(pt_noise_cipher_decrypt(&c_rr, pt, sizeof pt, &n, NULL, 0, ct, n),
                     PT_ERR_OK);
    assert_memory_equal(pt, data, 64);
    assert_int_equal(pt_noise_cipher_encrypt(&c_rs, ct, sizeof ct, &n, NULL, 0, data, 64),
                     PT_ERR_OK);
    assert_int_equal(pt_noise_cipher_decrypt(&c_ir, pt, sizeof pt, &n, NULL, 0, ct, n),
                     PT_ERR_OK);
    assert_memory_equal(pt, data, 64);

    pt_noise_cipher_cleanup(&c_is);
    pt_noise_cipher_cleanup(&c_ir);
    pt_noise_cipher_cleanup(&c_rs);
    pt_noise_cipher_cleanup(&c_rr);
    sodium_memzero(ki_s, 32);
    sodium_memzero(ki_r, 32);
    sodium_memzero(kr_s, 32);
    sodium_memzero(kr_r, 32);
    free(payload);
    free(msg);
    free(got);
}

static void test_round_trip(void **state)
{
    static const size_t lens[] = {0, 1000};
    static const struct {
        pt_noise_hash hash;
        int psk_pos;
    } suites[] = {{PT_NOISE_HASH_SHA256, -1},
                  {PT_NOISE_HASH_BLAKE2B, -1},
                  {PT_NOISE_HASH_SHA256, 1},
                  {PT_NOISE_HASH_BLAKE2B, 2}};
    party a, b;
    pt_noise_handshake ini, resp;
    (void)state;

    make_party(&a);
    make_party(&b);
    for (size_t s = 0; s < sizeof suites / sizeof suites[0]; s++) {
        for (size_t i = 0; i < 2; i++) {
            handshake(&ini, &resp, suites[s].hash, suites[s].psk_pos, &a, &b, lens[i]);
            pt_noise_handshake_cleanup(&ini);
            pt_noise_handshake_cleanup(&resp);
            assert_int_equal(ini.state, PT_NOISE_HS_FAILED);
            assert_true(sodium_is_zero(ini.ck, sizeof ini.ck));
        }
    }

    /* Two handshakes between the same keys give different session keys
     * (fresh ephemerals). */
    {
        uint8_t k1[32], k2[32], kr[32];
        handshake(&ini, &resp, PT_NOISE_HASH_SHA256, -1, &a, &b, 0);
        assert_int_equal(pt_noise_handshake_split(&ini, k1, kr, NULL, NULL), PT_ERR_OK);
        pt_noise_handshake_cleanup(&ini);
        pt_noise_handshake_cleanup(&resp);
        handshake(&ini, &resp, PT_NOISE_HASH_SHA256, -1, &a, &b, 0);
        assert_int_equal(pt_noise_handshake_split(&ini, k2, kr, NULL, NULL), PT_ERR_OK);
        pt_noise_handshake_cleanup(&ini);
        pt_noise_handshake_cleanup(&resp);
        assert_memory_not_equal(k1, k2, 32);
    }
}

/* Every single-byte change of message 1 or message 2 is caught. The
 * ephemerals are fixed so that a copy of the state before a message can
 * be reused for each tampered version of it. */
static void tamper_one_size(size_t payload_len)
{
    static const uint8_t flips[] = {0x01, 0x80};
    party a, b;
    uint8_t ea[32], eb[32];
    uint8_t *payload = calloc(1, payload_len + 1);
    uint8_t *m1 = malloc(payload_len + 96);
    uint8_t *m2 = malloc(payload_len + 48);
    uint8_t *got = malloc(payload_len + 1);
    size_t m1_len, m2_len, got_len;
    pt_noise_handshake ini, resp, ini_after_m1, resp_fresh, t;
    pt_noise_config icfg, rcfg;

    assert_non_null(payload);
    assert_non_null(m1);
    assert_non_null(m2);
    assert_non_null(got);
    make_party(&a);
    make_party(&b);
    randombytes_buf(ea, 32);
    randombytes_buf(eb, 32);
    icfg = make_cfg(PT_NOISE_HASH_SHA256, -1, NULL, a.priv, b.pub, ea);
    rcfg = make_cfg(PT_NOISE_HASH_SHA256, -1, NULL, b.priv, NULL, eb);

    assert_int_equal(pt_noise_handshake_init(&ini, PT_NOISE_INITIATOR, &icfg), PT_ERR_OK);
    assert_int_equal(pt_noise_handshake_init(&resp, PT_NOISE_RESPONDER, &rcfg), PT_ERR_OK);
    resp_fresh = resp;
    assert_int_equal(pt_noise_handshake_create_init(&ini, m1, payload_len + 96, &m1_len, payload,
                                                    payload_len),
                     PT_ERR_OK);
    ini_after_m1 = ini;
    assert_int_equal(pt_noise_handshake_consume_init(&resp, got, payload_len + 1, &got_len, m1,
                                                     m1_len),
                     PT_ERR_OK);
    assert_int_equal(pt_noise_handshake_create_resp(&resp, m2, payload_len + 48, &m2_len, payload,
                                                    payload_len),
                     PT_ERR_OK);

    for (size_t f = 0; f < sizeof flips; f++) {
        for (size_t i = 0; i < m1_len; i++) {
            int rc;
            t = resp_fresh;
            m1[i] ^= flips[f];
            rc = pt_noise_handshake_consume_init(&t, got, payload_len + 1, &got_len, m1, m1_len);
            m1[i] ^= flips[f];
            if (rc == PT_ERR_OK || t.state != PT_NOISE_HS_FAILED) {
                fail_msg("message 1 byte %zu ^ 0x%02x accepted (%s)", i, flips[f],
                         pt_err_name(rc));
            }
            assert_null(pt_noise_handshake_remote_static(&t));
            pt_noise_handshake_cleanup(&t);
        }
        for (size_t i = 0; i < m2_len; i++) {
            int rc;
            t = ini_after_m1;
            m2[i] ^= flips[f];
            rc = pt_noise_handshake_consume_resp(&t, got, payload_len + 1, &got_len, m2, m2_len);
            m2[i] ^= flips[f];
            if (rc == PT_ERR_OK || t.state != PT_NOISE_HS_FAILED) {
                fail_msg("message 2 byte %zu ^ 0x%02x accepted (%s)", i, flips[f],
                         pt_err_name(rc));
            }
            pt_noise_handshake_cleanup(&t);
        }
    }

    /* Truncated and extended messages fail too. */
    t = resp_fresh;
    assert_int_equal(pt_noise_handshake_consume_init(&t, got, payload_len + 1, &got_len, m1, 95),
                     PT_ERR_FRAME_SIZE);
    assert_int_equal(t.state, PT_NOISE_HS_FAILED);
    t = resp_fresh;
    assert_int_not_equal(pt_noise_handshake_consume_init(&t, got, payload_len + 1, &got_len, m1,
                                                         m1_len - 1),
                         PT_ERR_OK);
    assert_int_equal(t.state, PT_NOISE_HS_FAILED);
    t = ini_after_m1;
    assert_int_equal(pt_noise_handshake_consume_resp(&t, got, payload_len + 1, &got_len, m2, 47),
                     PT_ERR_FRAME_SIZE);
    assert_int_equal(t.state, PT_NOISE_HS_FAILED);

    /* The untouched messages still work from the saved states. */
    t = ini_after_m1;
    assert_int_equal(pt_noise_handshake_consume_resp(&t, got, payload_len + 1, &got_len, m2,
                                                     m2_len),
                     PT_ERR_OK);
    assert_int_equal(t.state, PT_NOISE_HS_DONE);

    pt_noise_handshake_cleanup(&t);
    pt_noise_handshake_cleanup(&ini);
    pt_noise_handshake_cleanup(&resp);
    pt_noise_handshake_cleanup(&ini_after_m1);
    pt_noise_handshake_cleanup(&resp_fresh);
    free(payload);
    free(m1);
    free(m2);
    free(got);
}

static void test_tamper(void **state)
{
    (void)state;
    tamper_one_size(0);
    tamper_one_size(1000);
}

static void test_wrong_responder_key(void **state)
{
    party a, b, c;
    uint8_t msg[96], got[8];
    size_t msg_len, got_len;
    pt_noise_handshake ini, resp;
    pt_noise_config icfg, rcfg;
    (void)state;

    make_party(&a);
    make_party(&b);
    make_party(&c);
    /* The initiator thinks it talks to c, but b answers. */
    icfg = make_cfg(PT_NOISE_HASH_SHA256, -1, NULL, a.priv, c.pub, NULL);
    rcfg = make_cfg(PT_NOISE_HASH_SHA256, -1, NULL, b.priv, NULL, NULL);
    assert_int_equal(pt_noise_handshake_init(&ini, PT_NOISE_INITIATOR, &icfg), PT_ERR_OK);
    assert_int_equal(pt_noise_handshake_init(&resp, PT_NOISE_RESPONDER, &rcfg), PT_ERR_OK);
    assert_int_equal(pt_noise_handshake_create_init(&ini, msg, sizeof msg, &msg_len, NULL, 0),
                     PT_ERR_OK);
    assert_int_equal(pt_noise_handshake_consume_init(&resp, got, sizeof got, &got_len, msg,
                                                     msg_len),
                     PT_ERR_DECRYPT);
    assert_int_equal(resp.state, PT_NOISE_HS_FAILED);
    assert_null(pt_noise_handshake_remote_static(&resp));
    /* FAILED wiped the secrets at once. */
    assert_true(sodium_is_zero(resp.s_priv, 32));
    assert_true(sodium_is_zero(resp.ck, sizeof resp.ck));
    pt_noise_handshake_cleanup(&ini);
    pt_noise_handshake_cleanup(&resp);
}

static void test_psk_mismatch(void **state)
{
    static const uint8_t psk1[32] = {1}, psk2[32] = {2};
    party a, b;
    uint8_t m1[96], m2[48], got[8];
    size_t m1_len, m2_len, got_len;
    pt_noise_handshake ini, resp;
    pt_noise_config icfg, rcfg;
    (void)state;

    make_party(&a);
    make_party(&b);

    /* psk1: the psk is mixed in before message 1's payload. */
    icfg = make_cfg(PT_NOISE_HASH_SHA256, 1, psk1, a.priv, b.pub, NULL);
    rcfg = make_cfg(PT_NOISE_HASH_SHA256, 1, psk2, b.priv, NULL, NULL);
    assert_int_equal(pt_noise_handshake_init(&ini, PT_NOISE_INITIATOR, &icfg), PT_ERR_OK);
    assert_int_equal(pt_noise_handshake_init(&resp, PT_NOISE_RESPONDER, &rcfg), PT_ERR_OK);
    assert_int_equal(pt_noise_handshake_create_init(&ini, m1, sizeof m1, &m1_len, NULL, 0),
                     PT_ERR_OK);
    assert_int_equal(pt_noise_handshake_consume_init(&resp, got, sizeof got, &got_len, m1, m1_len),
                     PT_ERR_DECRYPT);
    pt_noise_handshake_cleanup(&ini);
    pt_noise_handshake_cleanup(&resp);

    /* psk2: message 1 passes, message 2 does not. */
    icfg = make_cfg(PT_NOISE_HASH_BLAKE2B, 2, psk1, a.priv, b.pub, NULL);
    rcfg = make_cfg(PT_NOISE_HASH_BLAKE2B, 2, psk2, b.priv, NULL, NULL);
    assert_int_equal(pt_noise_handshake_init(&ini, PT_NOISE_INITIATOR, &icfg), PT_ERR_OK);
    assert_int_equal(pt_noise_handshake_init(&resp, PT_NOISE_RESPONDER, &rcfg), PT_ERR_OK);
    assert_int_equal(pt_noise_handshake_create_init(&ini, m1, sizeof m1, &m1_len, NULL, 0),
                     PT_ERR_OK);
    assert_int_equal(pt_noise_handshake_consume_init(&resp, got, sizeof got, &got_len, m1, m1_len),
                     PT_ERR_OK);
    assert_int_equal(pt_noise_handshake_create_resp(&resp, m2, sizeof m2, &m2_len, NULL, 0),
                     PT_ERR_OK);
    assert_int_equal(pt_noise_handshake_consume_resp(&ini, got, sizeof got, &got_len, m2, m2_len),
                     PT_ERR_DECRYPT);
    assert_int_equal(ini.state, PT_NOISE_HS_FAILED);
    pt_noise_handshake_cleanup(&ini);
    pt_noise_handshake_cleanup(&resp);
}

/* An ephemeral of all zeros is a low-order point: DH gives zero. */
static void test_low_order_ephemeral(void **state)
{
    party a, b;
    uint8_t m1[96], m2[48], got[8];
    size_t m1_len, got_len;
    pt_noise_handshake ini, resp;
    pt_noise_config icfg, rcfg;
    (void)state;

    make_party(&a);
    make_party(&b);
    rcfg = make_cfg(PT_NOISE_HASH_SHA256, -1, NULL, b.priv, NULL, NULL);
    assert_int_equal(pt_noise_handshake_init(&resp, PT_NOISE_RESPONDER, &rcfg), PT_ERR_OK);
    memset(m1, 0, sizeof m1);
    assert_int_equal(pt_noise_handshake_consume_init(&resp, got, sizeof got, &got_len, m1,
                                                     sizeof m1),
                     PT_ERR_HANDSHAKE);
    assert_int_equal(resp.state, PT_NOISE_HS_FAILED);
    pt_noise_handshake_cleanup(&resp);

    icfg = make_cfg(PT_NOISE_HASH_SHA256, -1, NULL, a.priv, b.pub, NULL);
    assert_int_equal(pt_noise_handshake_init(&ini, PT_NOISE_INITIATOR, &icfg), PT_ERR_OK);
    assert_int_equal(pt_noise_handshake_create_init(&ini, m1, sizeof m1, &m1_len, NULL, 0),
                     PT_ERR_OK);
    memset(m2, 0, sizeof m2);
    assert_int_equal(pt_noise_handshake_consume_resp(&ini, got, sizeof got, &got_len, m2,
                                                     sizeof m2),
                     PT_ERR_HANDSHAKE);
    assert_int_equal(ini.state, PT_NOISE_HS_FAILED);
    pt_noise_handshake_cleanup(&ini);

    /* The same for a responder static key of zeros given to an initiator. */
    {
        static const uint8_t zero[32] = {0};
        uint8_t out[96];
        size_t out_len = 0;
        icfg = make_cfg(PT_NOISE_HASH_SHA256, -1, NULL, a.priv, zero, NULL);
        assert_int_equal(pt_noise_handshake_init(&ini, PT_NOISE_INITIATOR, &icfg), PT_ERR_OK);
        memset(out, 0xa5, sizeof out);
        assert_int_equal(pt_noise_handshake_create_init(&ini, out, sizeof out, &out_len, NULL, 0),
                         PT_ERR_HANDSHAKE);
        assert_int_equal(out_len, 0);
        assert_int_equal(ini.state, PT_NOISE_HS_FAILED);
        pt_noise_handshake_cleanup(&ini);
    }
}

/* ---- 3. CipherState ------------------------------------------------------- */

static void test_cipher_in_place(void **state)
{
    static const uint8_t ad[] = "associated";
    uint8_t key[32], data[116], ref[116], orig[100];
    size_t n, rn;
    pt_noise_cipher a, b;
    (void)state;

    randombytes_buf(key, sizeof key);
    randombytes_buf(orig, sizeof orig);
    pt_noise_cipher_init(&a, key);
    pt_noise_cipher_init(&b, key);

    memcpy(data, orig, sizeof orig);
    assert_int_equal(pt_noise_cipher_encrypt(&a, data, sizeof data, &n, ad, sizeof ad, data, 100),
                     PT_ERR_OK);
    assert_int_equal(n, 116);
    assert_int_equal(a.n, 1);
    /* Same bytes as out-of-place. */
    assert_int_equal(pt_noise_cipher_encrypt(&b, ref, sizeof ref, &rn, ad, sizeof ad, orig, 100),
                     PT_ERR_OK);
    assert_int_equal(rn, n);
    assert_memory_equal(data, ref, n);

    pt_noise_cipher_init(&b, key);
    assert_int_equal(pt_noise_cipher_decrypt(&b, data, sizeof data, &n, ad, sizeof ad, data, 116),
                     PT_ERR_OK);
    assert_int_equal(n, 100);
    assert_memory_equal(data, orig, 100);
    assert_int_equal(b.n, 1);

    /* Empty plaintext: just a tag. */
    assert_int_equal(pt_noise_cipher_encrypt(&a, data, 16, &n, NULL, 0, NULL, 0), PT_ERR_OK);
    assert_int_equal(n, 16);
    assert_int_equal(pt_noise_cipher_decrypt(&b, data, 0, &n, NULL, 0, data, 16), PT_ERR_OK);
    assert_int_equal(n, 0);

    pt_noise_cipher_cleanup(&a);
    pt_noise_cipher_cleanup(&b);
}

static void test_cipher_bad_tag(void **state)
{
    uint8_t key[32], msg[10] = "0123456789", ct[26], pt[10];
    size_t n, pn;
    pt_noise_cipher a, b;
    (void)state;

    randombytes_buf(key, sizeof key);
    pt_noise_cipher_init(&a, key);
    pt_noise_cipher_init(&b, key);
    assert_int_equal(pt_noise_cipher_encrypt(&a, ct, sizeof ct, &n, NULL, 0, msg, sizeof msg),
                     PT_ERR_OK);
    for (size_t i = 0; i < n; i++) {
        ct[i] ^= 0x40;
        assert_int_equal(pt_noise_cipher_decrypt(&b, pt, sizeof pt, &pn, NULL, 0, ct, n),
                         PT_ERR_DECRYPT);
        assert_int_equal(b.n, 0);
        ct[i] ^= 0x40;
    }
    /* Wrong AD fails too. */
    assert_int_equal(pt_noise_cipher_decrypt(&b, pt, sizeof pt, &pn, msg, 1, ct, n),
                     PT_ERR_DECRYPT);
    assert_int_equal(b.n, 0);
    /* Too short to hold a tag. */
    assert_int_equal(pt_noise_cipher_decrypt(&b, pt, sizeof pt, &pn, NULL, 0, ct, 15),
                     PT_ERR_FRAME_SIZE);
    assert_int_equal(pt_noise_cipher_decrypt(&b, pt, sizeof pt, &pn, NULL, 0, ct, n), PT_ERR_OK);
    assert_int_equal(b.n, 1);
    assert_memory_equal(pt, msg, sizeof msg);
    /* A replay is a decrypt with the next nonce: it fails. */
    assert_int_equal(pt_noise_cipher_decrypt(&b, pt, sizeof pt, &pn, NULL, 0, ct, n),
                     PT_ERR_DECRYPT);
    assert_int_equal(b.n, 1);
    pt_noise_cipher_cleanup(&a);
    pt_noise_cipher_cleanup(&b);
}

static void test_cipher_rekey(void **state)
{
    static const uint8_t zeros[32] = {0};
    static const uint8_t max_nonce[12] = {0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff,
                                          0xff, 0xff, 0xff, 0xff};
    uint8_t key[32], want[48], msg[5] = "hello", ct[21], pt[5];
    unsigned long long want_len;
    size_t n;
    pt_noise_cipher a, b;
    (void)state;

    randombytes_buf(key, sizeof key);
    /* §4.2 computed independently, straight from libsodium. */
    assert_int_equal(crypto_aead_chacha20poly1305_ietf_encrypt(want, &want_len, zeros, 32, NULL, 0,
                                                               NULL, max_nonce, key),
                     0);

    pt_noise_cipher_init(&a, key);
    pt_noise_cipher_init(&b, key);
    a.n = 7;
    b.n = 7;
    pt_noise_cipher_rekey(&a);
    pt_noise_cipher_rekey(&b);
    assert_memory_equal(a.k, want, 32);
    assert_memory_equal(a.k, b.k, 32);
    assert_memory_not_equal(a.k, key, 32);
    assert_int_equal(a.n, 7);
    assert_int_equal(b.n, 7);

    assert_int_equal(pt_noise_cipher_encrypt(&a, ct, sizeof ct, &n, NULL, 0, msg, 5), PT_ERR_OK);
    assert_int_equal(pt_noise_cipher_decrypt(&b, pt, sizeof pt, &n, NULL, 0, ct, n), PT_ERR_OK);
    assert_memory_equal(pt, msg, 5);

    /* One side rekeys, the other does not: they no longer agree. */
    pt_noise_cipher_rekey(&a);
    assert_int_equal(pt_noise_cipher_encrypt(&a, ct, sizeof ct, &n, NULL, 0, msg, 5), PT_ERR_OK);
    assert_int_equal(pt_noise_cipher_decrypt(&b, pt, sizeof pt, &n, NULL, 0, ct, n),
                     PT_ERR_DECRYPT);
    pt_noise_cipher_cleanup(&a);
    pt_noise_cipher_cleanup(&b);
}

static void test_cipher_nonce_exhausted(void **state)
{
    uint8_t key[32], msg[4] = {1, 2, 3, 4}, ct[20], pt[4];
    size_t n;
    pt_noise_cipher a, b;
    (void)state;

    randombytes_buf(key, sizeof key);
    pt_noise_cipher_init(&a, key);
    pt_noise_cipher_init(&b, key);

    a.n = UINT64_MAX - 1;
    assert_int_equal(pt_noise_cipher_encrypt(&a, ct, sizeof ct, &n, NULL, 0, msg, 4),
                     PT_ERR_NONCE_EXHAUSTED);
    assert_int_equal(a.n, UINT64_MAX - 1);

    /* The last usable nonce works once. */
    a.n = UINT64_MAX - 2;
    b.n = UINT64_MAX - 2;
    assert_int_equal(pt_noise_cipher_encrypt(&a, ct, sizeof ct, &n, NULL, 0, msg, 4), PT_ERR_OK);
    assert_int_equal(pt_noise_cipher_decrypt(&b, pt, sizeof pt, &n, NULL, 0, ct, n), PT_ERR_OK);
    assert_memory_equal(pt, msg, 4);
    assert_int_equal(pt_noise_cipher_encrypt(&a, ct, sizeof ct, &n, NULL, 0, msg, 4),
                     PT_ERR_NONCE_EXHAUSTED);
    assert_int_equal(pt_noise_cipher_decrypt(&b, pt, sizeof pt, &n, NULL, 0, ct, 20),
                     PT_ERR_NONCE_EXHAUSTED);

    a.n = UINT64_MAX;
    assert_int_equal(pt_noise_cipher_encrypt(&a, ct, sizeof ct, &n, NULL, 0, msg, 4),
                     PT_ERR_NONCE_EXHAUSTED);
    pt_noise_cipher_cleanup(&a);
    pt_noise_cipher_cleanup(&b);
}

static void test_cipher_no_key_and_cleanup(void **state)
{
    uint8_t key[32], msg[4] = {1, 2, 3, 4}, out[20];
    size_t n;
    pt_noise_cipher c;
    (void)state;

    /* §5.1: no key, no encryption and no nonce use. */
    pt_noise_cipher_init(&c, NULL);
    assert_int_equal(pt_noise_cipher_encrypt(&c, out, sizeof out, &n, NULL, 0, msg, 4), PT_ERR_OK);
    assert_int_equal(n, 4);
    assert_memory_equal(out, msg, 4);
    assert_int_equal(c.n, 0);

    /* A wiped cipher must not fall back to that plaintext mode. */
    randombytes_buf(key, sizeof key);
    pt_noise_cipher_init(&c, key);
    pt_noise_cipher_cleanup(&c);
    assert_true(sodium_is_zero(c.k, 32));
    assert_int_equal(pt_noise_cipher_encrypt(&c, out, sizeof out, &n, NULL, 0, msg, 4),
                     PT_ERR_STATE);
    assert_int_equal(pt_noise_cipher_decrypt(&c, out, sizeof out, &n, NULL, 0, out, 20),
                     PT_ERR_STATE);

    /* A message over 65535 bytes is not a Noise message. */
    {
        uint8_t *big = calloc(1, 65536 + 16);
        assert_non_null(big);
        pt_noise_cipher_init(&c, key);
        assert_int_equal(pt_noise_cipher_encrypt(&c, big, 65536 + 16, &n, NULL, 0, big,
                                                 65535 - 16 + 1),
                         PT_ERR_FRAME_SIZE);
        assert_int_equal(pt_noise_cipher_encrypt(&c, big, 65536 + 16, &n, NULL, 0, big,
                                                 65535 - 16),
                         PT_ERR_OK);
        assert_int_equal(n, 65535);
        assert_int_equal(pt_noise_cipher_decrypt(&c, big, 65536 + 16, &n, NULL, 0, big, 65536),
                         PT_ERR_FRAME_SIZE);
        pt_noise_cipher_cleanup(&c);
        free(big);
    }
}

/* ---- 4. states and buffers ---------------------------------------------- */

static void test_state_errors(void **state)
{
    static const uint8_t psk[32] = {9};
    party a, b;
    uint8_t m1[96], m2[48], got[8], k1[32], k2[32];
    size_t m1_len, m2_len, got_len;
    pt_noise_handshake ini, resp;
    pt_noise_config icfg, rcfg, bad;
    (void)state;

    make_party(&a);
    make_party(&b);
    icfg = make_cfg(PT_NOISE_HASH_SHA256, -1, NULL, a.priv, b.pub, NULL);
    rcfg = make_cfg(PT_NOISE_HASH_SHA256, -1, NULL, b.priv, NULL, NULL);

    /* Bad configurations. */
    assert_int_equal(pt_noise_handshake_init(&ini, PT_NOISE_INITIATOR, NULL), PT_ERR_INVAL);
    assert_int_equal(ini.state, PT_NOISE_HS_FAILED);
    bad = icfg;
    bad.remote_static_pub = NULL;
    assert_int_equal(pt_noise_handshake_init(&ini, PT_NOISE_INITIATOR, &bad), PT_ERR_INVAL);
    bad = rcfg;
    bad.remote_static_pub = a.pub;
    assert_int_equal(pt_noise_handshake_init(&resp, PT_NOISE_RESPONDER, &bad), PT_ERR_INVAL);
    bad = icfg;
    bad.local_static_priv = NULL;
    assert_int_equal(pt_noise_handshake_init(&ini, PT_NOISE_INITIATOR, &bad), PT_ERR_INVAL);
    bad = icfg;
    bad.psk_pos = 1;
    assert_int_equal(pt_noise_handshake_init(&ini, PT_NOISE_INITIATOR, &bad), PT_ERR_INVAL);
    bad.psk = psk;
    bad.psk_pos = 0; /* psk0 is not IK as this module implements it */
    assert_int_equal(pt_noise_handshake_init(&ini, PT_NOISE_INITIATOR, &bad), PT_ERR_INVAL);
    bad.psk_pos = 3;
    assert_int_equal(pt_noise_handshake_init(&ini, PT_NOISE_INITIATOR, &bad), PT_ERR_INVAL);
    bad = icfg;
    bad.hash = (pt_noise_hash)7;
    assert_int_equal(pt_noise_handshake_init(&ini, PT_NOISE_INITIATOR, &bad), PT_ERR_INVAL);
    bad = icfg;
    bad.prologue = NULL;
    assert_int_equal(pt_noise_handshake_init(&ini, PT_NOISE_INITIATOR, &bad), PT_ERR_INVAL);
    pt_noise_handshake_cleanup(&ini);
    pt_noise_handshake_cleanup(&resp);

    /* Wrong-role and out-of-order calls. */
    assert_int_equal(pt_noise_handshake_init(&ini, PT_NOISE_INITIATOR, &icfg), PT_ERR_OK);
    assert_int_equal(pt_noise_handshake_create_resp(&ini, m2, sizeof m2, &m2_len, NULL, 0),
                     PT_ERR_STATE);
    assert_int_equal(ini.state, PT_NOISE_HS_FAILED);
    pt_noise_handshake_cleanup(&ini);

    assert_int_equal(pt_noise_handshake_init(&ini, PT_NOISE_INITIATOR, &icfg), PT_ERR_OK);
    assert_int_equal(pt_noise_handshake_split(&ini, k1, k2, NULL, NULL), PT_ERR_STATE);
    assert_int_equal(ini.state, PT_NOISE_HS_FAILED);
    pt_noise_handshake_cleanup(&ini);

    assert_int_equal(pt_noise_handshake_init(&ini, PT_NOISE_INITIATOR, &icfg), PT_ERR_OK);
    assert_int_equal(pt_noise_handshake_consume_init(&ini, got, sizeof got, &got_len, m1,
                                                     sizeof m1),
                     PT_ERR_STATE);
    pt_noise_handshake_cleanup(&ini);

    assert_int_equal(pt_noise_handshake_init(&resp, PT_NOISE_RESPONDER, &rcfg), PT_ERR_OK);
    assert_int_equal(pt_noise_handshake_create_init(&resp, m1, sizeof m1, &m1_len, NULL, 0),
                     PT_ERR_STATE);
    pt_noise_handshake_cleanup(&resp);

    assert_int_equal(pt_noise_handshake_init(&ini, PT_NOISE_INITIATOR, &icfg), PT_ERR_OK);
    assert_int_equal(pt_noise_handshake_init(&resp, PT_NOISE_RESPONDER, &rcfg), PT_ERR_OK);
    assert_int_equal(pt_noise_handshake_create_init(&ini, m1, sizeof m1, &m1_len, NULL, 0),
                     PT_ERR_OK);
    /* create_init twice. */
    {
        pt_noise_handshake t = ini;
        uint8_t other[96];
        size_t other_len;
        assert_int_equal(pt_noise_handshake_create_init(&t, other, sizeof other, &other_len,
                                                        NULL, 0),
                         PT_ERR_STATE);
        pt_noise_handshake_cleanup(&t);
    }
    /* Responder: split before create_resp. */
    assert_int_equal(pt_noise_handshake_consume_init(&resp, got, sizeof got, &got_len, m1, m1_len),
                     PT_ERR_OK);
    {
        pt_noise_handshake t = resp;
        assert_int_equal(pt_noise_handshake_split(&t, k1, k2, NULL, NULL), PT_ERR_STATE);
        pt_noise_handshake_cleanup(&t);
    }
    assert_int_equal(pt_noise_handshake_create_resp(&resp, m2, sizeof m2, &m2_len, NULL, 0),
                     PT_ERR_OK);
    assert_int_equal(pt_noise_handshake_consume_resp(&ini, got, sizeof got, &got_len, m2, m2_len),
                     PT_ERR_OK);
    /* DONE has dropped what the transport does not need. */
    assert_true(sodium_is_zero(ini.e_priv, 32));
    assert_true(sodium_is_zero(ini.s_priv, 32));
    assert_true(sodium_is_zero(resp.e_priv, 32));
    assert_int_equal(pt_noise_handshake_split(&ini, k1, k2, NULL, NULL), PT_ERR_OK);
    /* Nothing after DONE but split and cleanup. */
    assert_int_equal(pt_noise_handshake_consume_resp(&ini, got, sizeof got, &got_len, m2, m2_len),
                     PT_ERR_STATE);
    assert_int_equal(ini.state, PT_NOISE_HS_FAILED);
    assert_null(pt_noise_handshake_remote_static(&ini));

    /* After cleanup nothing works. */
    pt_noise_handshake_cleanup(&resp);
    assert_int_equal(pt_noise_handshake_create_init(&resp, m1, sizeof m1, &m1_len, NULL, 0),
                     PT_ERR_STATE);
    pt_noise_handshake_cleanup(&ini);
    pt_noise_handshake_cleanup(&resp);
}

#define GUARD 64
#define GUARD_BYTE 0xa5

static int all_guard(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (p[i] != GUARD_BYTE) {
            return 0;
        }
    }
    return 1;
}

static void test_small_buffers(void **state)
{
    party a, b;
    uint8_t payload[40], msg[200], m1[96 + 40], m2[48 + 40];
    uint8_t buf[96 + 40 + GUARD];
    size_t out_len, m1_len, m2_len, got_len;
    pt_noise_handshake ini, resp, t;
    pt_noise_config icfg, rcfg;
    pt_noise_cipher c;
    (void)state;

    make_party(&a);
    make_party(&b);
    randombytes_buf(payload, sizeof payload);
    icfg = make_cfg(PT_NOISE_HASH_SHA256, -1, NULL, a.priv, b.pub, NULL);
    rcfg = make_cfg(PT_NOISE_HASH_SHA256, -1, NULL, b.priv, NULL, NULL);

    /* create_init: one byte short fails and writes nothing at all. */
    assert_int_equal(pt_noise_handshake_init(&ini, PT_NOISE_INITIATOR, &icfg), PT_ERR_OK);
    t = ini;
    memset(buf, GUARD_BYTE, sizeof buf);
    out_len = 12345;
    assert_int_equal(pt_noise_handshake_create_init(&t, buf, 96 + 40 - 1, &out_len, payload, 40),
                     PT_ERR_NOBUFS);
    assert_int_equal(out_len, 0);
    assert_true(all_guard(buf, sizeof buf));
    assert_int_equal(t.state, PT_NOISE_HS_FAILED);
    pt_noise_handshake_cleanup(&t);
    /* Exactly enough: the guard after it stays. */
    assert_int_equal(pt_noise_handshake_create_init(&ini, buf, 96 + 40, &m1_len, payload, 40),
                     PT_ERR_OK);
    assert_int_equal(m1_len, 96 + 40);
    assert_true(all_guard(buf + m1_len, GUARD));
    memcpy(m1, buf, m1_len);

    /* consume_init: payload buffer one byte short. */
    assert_int_equal(pt_noise_handshake_init(&resp, PT_NOISE_RESPONDER, &rcfg), PT_ERR_OK);
    t = resp;
    memset(buf, GUARD_BYTE, sizeof buf);
    assert_int_equal(pt_noise_handshake_consume_init(&t, buf, 39, &got_len, m1, m1_len),
                     PT_ERR_NOBUFS);
    assert_true(all_guard(buf, sizeof buf));
    assert_int_equal(t.state, PT_NOISE_HS_FAILED);
    pt_noise_handshake_cleanup(&t);
    assert_int_equal(pt_noise_handshake_consume_init(&resp, buf, 40, &got_len, m1, m1_len),
                     PT_ERR_OK);
    assert_int_equal(got_len, 40);
    assert_memory_equal(buf, payload, 40);
    assert_true(all_guard(buf + 40, sizeof buf - 40));

    /* create_resp. */
    t = resp;
    memset(buf, GUARD_BYTE, sizeof buf);
    assert_int_equal(pt_noise_handshake_create_resp(&t, buf, 48 + 40 - 1, &out_len, payload, 40),
                     PT_ERR_NOBUFS);
    assert_true(all_guard(buf, sizeof buf));
    assert_int_equal(t.state, PT_NOISE_HS_FAILED);
    pt_noise_handshake_cleanup(&t);
    assert_int_equal(pt_noise_handshake_create_resp(&resp, buf, 48 + 40, &m2_len, payload, 40),
                     PT_ERR_OK);
    assert_true(all_guard(buf + m2_len, sizeof buf - m2_len));
    memcpy(m2, buf, m2_len);

    /* consume_resp. */
    t = ini;
    memset(buf, GUARD_BYTE, sizeof buf);
    assert_int_equal(pt_noise_handshake_consume_resp(&t, buf, 39, &got_len, m2, m2_len),
                     PT_ERR_NOBUFS);
    assert_true(all_guard(buf, sizeof buf));
    assert_int_equal(t.state, PT_NOISE_HS_FAILED);
    pt_noise_handshake_cleanup(&t);
    assert_int_equal(pt_noise_handshake_consume_resp(&ini, buf, 40, &got_len, m2, m2_len),
                     PT_ERR_OK);
    assert_memory_equal(buf, payload, 40);
    pt_noise_handshake_cleanup(&ini);
    pt_noise_handshake_cleanup(&resp);

    /* CipherState. */
    pt_noise_cipher_init(&c, a.priv);
    memset(buf, GUARD_BYTE, sizeof buf);
    assert_int_equal(pt_noise_cipher_encrypt(&c, buf, 40 + 15, &out_len, NULL, 0, payload, 40),
                     PT_ERR_NOBUFS);
    assert_true(all_guard(buf, sizeof buf));
    assert_int_equal(c.n, 0);
    assert_int_equal(pt_noise_cipher_encrypt(&c, msg, sizeof msg, &out_len, NULL, 0, payload, 40),
                     PT_ERR_OK);
    pt_noise_cipher_init(&c, a.priv);
    assert_int_equal(pt_noise_cipher_decrypt(&c, buf, 39, &got_len, NULL, 0, msg, out_len),
                     PT_ERR_NOBUFS);
    assert_true(all_guard(buf, sizeof buf));
    assert_int_equal(c.n, 0);
    pt_noise_cipher_cleanup(&c);
}

/* Payloads that would push a handshake message over 65535 bytes. */
static void test_max_message(void **state)
{
    party a, b;
    uint8_t *big = calloc(1, 65536 + 128);
    uint8_t *got = calloc(1, 65536);
    size_t out_len, got_len;
    pt_noise_handshake ini, resp, t;
    pt_noise_config icfg, rcfg;
    (void)state;

    assert_non_null(big);
    assert_non_null(got);
    make_party(&a);
    make_party(&b);
    icfg = make_cfg(PT_NOISE_HASH_SHA256, -1, NULL, a.priv, b.pub, NULL);
    rcfg = make_cfg(PT_NOISE_HASH_SHA256, -1, NULL, b.priv, NULL, NULL);
    assert_int_equal(pt_noise_handshake_init(&ini, PT_NOISE_INITIATOR, &icfg), PT_ERR_OK);
    assert_int_equal(pt_noise_handshake_init(&resp, PT_NOISE_RESPONDER, &rcfg), PT_ERR_OK);

    t = ini;
    assert_int_equal(pt_noise_handshake_create_init(&t, big, 65536 + 128, &out_len, big,
                                                    PT_NOISE_MAX_MSG_LEN - 96 + 1),
                     PT_ERR_FRAME_SIZE);
    pt_noise_handshake_cleanup(&t);
    t = ini;
    assert_int_equal(pt_noise_handshake_create_init(&t, big, 65536 + 128, &out_len, big,
                                                    SIZE_MAX - 10),
                     PT_ERR_FRAME_SIZE);
    pt_noise_handshake_cleanup(&t);
    t = resp;
    assert_int_equal(pt_noise_handshake_consume_init(&t, got, 65536, &got_len, big, 65536),
                     PT_ERR_FRAME_SIZE);
    pt_noise_handshake_cleanup(&t);

    /* The largest message 1 works end to end. */
    assert_int_equal(pt_noise_handshake_create_init(&ini, big, 65536 + 128, &out_len, got,
                                                    PT_NOISE_MAX_MSG_LEN - 96),
                     PT_ERR_OK);
    assert_int_equal(out_len, PT_NOISE_MAX_MSG_LEN);
    assert_int_equal(pt_noise_handshake_consume_init(&resp, got, 65536, &got_len, big, out_len),
                     PT_ERR_OK);
    assert_int_equal(got_len, PT_NOISE_MAX_MSG_LEN - 96);

    t = resp;
    assert_int_equal(pt_noise_handshake_create_resp(&t, big, 65536 + 128, &out_len, got,
                                                    PT_NOISE_MAX_MSG_LEN - 48 + 1),
                     PT_ERR_FRAME_SIZE);
    pt_noise_handshake_cleanup(&t);

    pt_noise_handshake_cleanup(&ini);
    pt_noise_handshake_cleanup(&resp);
    free(big);
    free(got);
}

static void test_keys(void **state)
{
    uint8_t priv[32], pub[32], pub2[32], priv2[32], pub3[32];
    (void)state;

    assert_int_equal(pt_noise_keypair(priv, pub), PT_ERR_OK);
    assert_int_equal(pt_noise_pubkey(pub2, priv), PT_ERR_OK);
    assert_memory_equal(pub, pub2, 32);
    assert_int_equal(pt_noise_keypair(priv2, pub3), PT_ERR_OK);
    assert_memory_not_equal(priv, priv2, 32);
    assert_memory_not_equal(pub, pub3, 32);
    assert_int_equal(pt_noise_keypair(NULL, pub), PT_ERR_INVAL);
    assert_int_equal(pt_noise_pubkey(pub, NULL), PT_ERR_INVAL);
    sodium_memzero(priv, 32);
    sodium_memzero(priv2, 32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_hkdf_known_answers),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_tamper),
        cmocka_unit_test(test_wrong_responder_key),
        cmocka_unit_test(test_psk_mismatch),
        cmocka_unit_test(test_low_order_ephemeral),
        cmocka_unit_test(test_cipher_in_place),
        cmocka_unit_test(test_cipher_bad_tag),
        cmocka_unit_test(test_cipher_rekey),
        cmocka_unit_test(test_cipher_nonce_exhausted),
        cmocka_unit_test(test_cipher_no_key_and_cleanup),
        cmocka_unit_test(test_state_errors),
        cmocka_unit_test(test_small_buffers),
        cmocka_unit_test(test_max_message),
        cmocka_unit_test(test_keys),
    };
    if (sodium_init() < 0) {
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
