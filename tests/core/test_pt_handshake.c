/* test_pt_handshake.c — the handshake wrapper (core/pt_handshake.c): a full
 * client/server exchange with random keys, the framing rules of
 * PROTOCOL.md §5.3, the HTTP/2 server preface P as the document gives it,
 * and every way a first message can be invalid (§5.7). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pt_err.h"
#include "pt_frame.h"
#include "pt_handshake.h"

typedef struct keys {
    uint8_t c_priv[32], c_pub[32], s_priv[32], s_pub[32];
} keys;

static void make_keys(keys *k)
{
    assert_int_equal(pt_noise_keypair(k->c_priv, k->c_pub), PT_ERR_OK);
    assert_int_equal(pt_noise_keypair(k->s_priv, k->s_pub), PT_ERR_OK);
}

static void make_payload(pt_hs_payload *p, uint64_t ts)
{
    memset(p, 0, sizeof(*p));
    p->version = PT_PROTOCOL_VERSION;
    p->flags = PT_HS_FLAG_PADDING;
    p->timestamp = ts;
    randombytes_buf(p->random, sizeof(p->random));
    pt_hs_settings_default(&p->settings);
}

/* Client message 1 into |out|; returns its length. */
static size_t client_msg1(pt_hs *c, const keys *k, uint8_t transport, size_t noise_len,
                          uint8_t *out, size_t cap)
{
    pt_hs_payload p;
    size_t n = 0;
    make_payload(&p, 1700000000);
    p.settings.conn_window = 8u << 20; /* not the default: sent as a TLV */
    assert_int_equal(pt_hs_client_create(c, out, cap, &n, k->c_priv, k->s_pub, transport, &p,
                                         noise_len, NULL, NULL),
                     PT_ERR_OK);
    return n;
}

static void test_full_exchange_and_frames(void **state)
{
    (void)state;
    keys k;
    make_keys(&k);
    pt_hs c, s;
    uint8_t m1[PT_HS_MSG_MAX + 2], m2[PT_HS_MSG_MAX + 2];
    size_t m1_len = client_msg1(&c, &k, PT_TRANSPORT_TLS, 500, m1, sizeof(m1));
    assert_int_equal(m1_len, 502); /* padded exactly to noise_len + prefix */

    uint8_t got_pub[32];
    pt_hs_payload cp, sp;
    size_t used = 0;
    assert_int_equal(pt_hs_server_read(&s, m1, m1_len, &used, k.s_priv, PT_TRANSPORT_TLS, got_pub,
                                       &cp),
                     PT_ERR_OK);
    assert_int_equal(used, m1_len);
    assert_memory_equal(got_pub, k.c_pub, 32);
    assert_int_equal(cp.version, 1);
    assert_int_equal(cp.timestamp, 1700000000);
    assert_int_equal(cp.settings.conn_window, 8u << 20);
    assert_int_equal(cp.settings.stream_window, PT_DEFAULT_STREAM_WINDOW);

    pt_hs_payload rp;
    make_payload(&rp, 1700000001);
    rp.settings.max_streams = 77;
    pt_hs_keys sk, ck;
    size_t m2_len = 0;
    assert_int_equal(pt_hs_server_respond(&s, m2, sizeof(m2), &m2_len, &rp, 900, NULL, NULL, &sk,
                                          PT_AEAD_BORINGSSL),
                     PT_ERR_OK);
    assert_int_equal(m2_len, 902);

    /* The client needs the whole message: AGAIN until the last byte. */
    assert_int_equal(pt_hs_client_finish(&c, m2, 1, &used, &sp, &ck, PT_AEAD_BORINGSSL),
                     PT_ERR_AGAIN);
    assert_int_equal(pt_hs_client_finish(&c, m2, m2_len - 1, &used, &sp, &ck, PT_AEAD_BORINGSSL),
                     PT_ERR_AGAIN);
    assert_int_equal(used, m2_len);
    assert_int_equal(pt_hs_client_finish(&c, m2, m2_len, &used, &sp, &ck, PT_AEAD_SODIUM),
                     PT_ERR_OK);
    assert_int_equal(sp.settings.max_streams, 77);
    assert_int_equal(sp.timestamp, 1700000001);

    /* Frames both ways (the backends interoperate: client sodium, server BoringSSL). */
    uint8_t buf[256];
    size_t wl;
    pt_frame_hdr h;
    uint8_t *pl;
    assert_int_equal(pt_frame_seal_raw(&ck.tx, buf, sizeof(buf), &wl, PT_FRAME_DATA, 1,
                                       (const uint8_t *)"ping", 4, NULL, 10),
                     PT_ERR_OK);
    assert_int_equal(pt_frame_open(&sk.rx, buf, wl, &used, &h, &pl), PT_ERR_OK);
    assert_int_equal(h.stream_id, 1);
    assert_memory_equal(pl, "ping", 4);
    assert_int_equal(pt_frame_seal_raw(&sk.tx, buf, sizeof(buf), &wl, PT_FRAME_DATA, 1,
                                       (const uint8_t *)"pong", 4, NULL, 0),
                     PT_ERR_OK);
    assert_int_equal(pt_frame_open(&ck.rx, buf, wl, &used, &h, &pl), PT_ERR_OK);
    assert_memory_equal(pl, "pong", 4);

    /* A client frame cannot be opened with the client's own receive keys. */
    assert_int_equal(pt_frame_seal_raw(&ck.tx, buf, sizeof(buf), &wl, PT_FRAME_DATA, 1,
                                       (const uint8_t *)"x", 1, NULL, 0),
                     PT_ERR_OK);
    int rc = pt_frame_open(&ck.rx, buf, wl, &used, &h, &pl);
    assert_true(rc == PT_ERR_DECRYPT || rc == PT_ERR_FRAME_SIZE || rc == PT_ERR_AGAIN);

    pt_hs_keys_cleanup(&sk);
    pt_hs_keys_cleanup(&ck);
    pt_hs_cleanup(&c);
    pt_hs_cleanup(&s);
}

/* Server side of an invalid first message: any error (never OK). */
static int server_try(const keys *k, const uint8_t *m, size_t len, uint8_t transport)
{
    pt_hs s;
    uint8_t pub[32];
    pt_hs_payload p;
    size_t used = 0;
    memset(&s, 0, sizeof(s));
    int rc = pt_hs_server_read(&s, m, len, &used, k->s_priv, transport, pub, &p);
    pt_hs_cleanup(&s);
    return rc;
}

static void test_invalid_first_messages(void **state)
{
    (void)state;
    keys k, other;
    make_keys(&k);
    make_keys(&other);
    pt_hs c;
    uint8_t m1[PT_HS_MSG_MAX + 2];
    size_t n = client_msg1(&c, &k, PT_TRANSPORT_TLS, 0, m1, sizeof(m1));
    pt_hs_cleanup(&c);
    /* No padding asked: minimum size plus the 7-byte conn_window setting. */
    assert_int_equal(n, 2 + PT_HS_MSG1_MIN + 7);
    assert_int_equal(server_try(&k, m1, n, PT_TRANSPORT_TLS), PT_ERR_OK);

    /* Truncated: AGAIN (the server's transport then gives up: §5.7). */
    assert_int_equal(server_try(&k, m1, 0, PT_TRANSPORT_TLS), PT_ERR_AGAIN);
    assert_int_equal(server_try(&k, m1, 1, PT_TRANSPORT_TLS), PT_ERR_AGAIN);
    assert_int_equal(server_try(&k, m1, n - 1, PT_TRANSPORT_TLS), PT_ERR_AGAIN);
    /* Wrong transport in the prologue; wrong server key. */
    assert_int_equal(server_try(&k, m1, n, PT_TRANSPORT_QUIC), PT_ERR_DECRYPT);
    assert_int_equal(server_try(&other, m1, n, PT_TRANSPORT_TLS), PT_ERR_DECRYPT);
    /* Every single-byte change of the message body is rejected. */
    for (size_t i = 2; i < n; i++) {
        m1[i] ^= 0x40;
        assert_int_not_equal(server_try(&k, m1, n, PT_TRANSPORT_TLS), PT_ERR_OK);
        m1[i] ^= 0x40;
    }
    /* Prefix out of range: too small, too large. */
    uint8_t save0 = m1[0], save1 = m1[1];
    m1[0] = 0;
    m1[1] = PT_HS_MSG1_MIN - 1;
    assert_int_equal(server_try(&k, m1, n, PT_TRANSPORT_TLS), PT_ERR_FRAME_SIZE);
    m1[0] = (PT_HS_MSG_MAX + 1) >> 8;
    m1[1] = (PT_HS_MSG_MAX + 1) & 0xff;
    assert_int_equal(server_try(&k, m1, n, PT_TRANSPORT_TLS), PT_ERR_FRAME_SIZE);
    m1[0] = save0;
    m1[1] = save1;
    /* An HTTP request and random bytes are not first messages. */
    static const char get[] = "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n";
    assert_int_not_equal(server_try(&k, (const uint8_t *)get, sizeof(get) - 1, PT_TRANSPORT_TLS),
                         PT_ERR_OK);
    uint8_t rnd[600];
    for (int i = 0; i < 50; i++) {
        randombytes_buf(rnd, sizeof(rnd));
        assert_int_not_equal(server_try(&k, rnd, sizeof(rnd), PT_TRANSPORT_TLS), PT_ERR_OK);
    }
    /* Trailing bytes after the message are not consumed (they would be frames). */
    pt_hs s;
    uint8_t pub[32], big[sizeof(m1) + 10];
    pt_hs_payload p;
    size_t used = 0;
    memcpy(big, m1, n);
    memset(big + n, 0xee, 10);
    assert_int_equal(pt_hs_server_read(&s, big, n + 10, &used, k.s_priv, PT_TRANSPORT_TLS, pub, &p),
                     PT_ERR_OK);
    assert_int_equal(used, n);
    pt_hs_cleanup(&s);
}

static void test_padding_lengths(void **state)
{
    (void)state;
    keys k;
    make_keys(&k);
    for (int i = 0; i < 200; i++) {
        size_t l1 = pt_hs_pick_len(1), l2 = pt_hs_pick_len(2);
        assert_true(l1 >= 200 && l1 < 700);
        assert_true(l2 >= 100 && l2 < 1200);
    }
    /* Any noise_len from minimum + 3 up to the maximum is hit exactly. */
    size_t sizes[] = {PT_HS_MSG1_MIN + 7 + 3, 200, 699, PT_HS_MSG_MAX};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        pt_hs c;
        uint8_t m1[PT_HS_MSG_MAX + 2];
        size_t n = client_msg1(&c, &k, PT_TRANSPORT_TCP, sizes[i], m1, sizeof(m1));
        pt_hs_cleanup(&c);
        assert_int_equal(n, sizes[i] + 2);
        assert_int_equal(server_try(&k, m1, n, PT_TRANSPORT_TCP), PT_ERR_OK);
    }
    /* Too small to fit a padding TLV: sent unpadded. The client's message
     * carries a conn_window setting (7 bytes), so its minimum is 122 + 7. */
    pt_hs c;
    uint8_t m1[PT_HS_MSG_MAX + 2];
    size_t n = client_msg1(&c, &k, PT_TRANSPORT_TCP, PT_HS_MSG1_MIN + 7 + 2, m1, sizeof(m1));
    pt_hs_cleanup(&c);
    assert_int_equal(n, 2 + PT_HS_MSG1_MIN + 7);
}

static void test_timestamp_window(void **state)
{
    (void)state;
    uint64_t now = 1700000000;
    assert_true(pt_hs_timestamp_ok(now, now));
    assert_true(pt_hs_timestamp_ok(now - 300, now));
    assert_true(pt_hs_timestamp_ok(now + 300, now));
    assert_false(pt_hs_timestamp_ok(now - 301, now));
    assert_false(pt_hs_timestamp_ok(now + 301, now));
    assert_false(pt_hs_timestamp_ok(0, now));
    assert_false(pt_hs_timestamp_ok(UINT64_MAX, now));
}

static void test_prologue(void **state)
{
    (void)state;
    uint8_t p[PT_HS_PROLOGUE_LEN];
    pt_hs_prologue(p, PT_TRANSPORT_WEBSOCKET);
    assert_memory_equal(p, "phantom-tunnel/1\x03", PT_HS_PROLOGUE_LEN);
}

/* §5.3: pt_hs_h2_preface is the "P (hex) = ..." line of docs/PROTOCOL.md,
 * and it is a SETTINGS frame of 3 entries then a connection WINDOW_UPDATE. */
static void test_h2_preface(void **state)
{
    (void)state;
    const uint8_t *p = pt_hs_h2_preface;
    assert_int_equal(PT_HS_H2_PREFACE_LEN, 40);
    /* SETTINGS: length 18, type 4, no flags, stream 0 */
    assert_memory_equal(p, "\x00\x00\x12\x04\x00\x00\x00\x00\x00", 9);
    /* WINDOW_UPDATE at 9 + 18: length 4, type 8, stream 0, 2^31-1 - 65535 */
    assert_memory_equal(p + 27, "\x00\x00\x04\x08\x00\x00\x00\x00\x00", 9);
    uint32_t inc = (uint32_t)p[36] << 24 | (uint32_t)p[37] << 16 | (uint32_t)p[38] << 8 | p[39];
    assert_int_equal(inc, 2147483647u - 65535u);

    const char *src = getenv("PT_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof(path), "%s/docs/PROTOCOL.md", src && *src ? src : ".");
    FILE *f = fopen(path, "r");
    if (!f) {
        skip(); /* run outside ctest without the source tree */
    }
    char line[512], want[2 * PT_HS_H2_PREFACE_LEN + 1];
    int found = 0;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "P (hex) = ", 10) == 0) {
            found = 1;
            break;
        }
    }
    fclose(f);
    assert_true(found);
    for (size_t i = 0; i < PT_HS_H2_PREFACE_LEN; i++) {
        snprintf(want + 2 * i, 3, "%02x", p[i]);
    }
    assert_memory_equal(line + 10, want, 2 * PT_HS_H2_PREFACE_LEN);
    assert_true(line[10 + 2 * PT_HS_H2_PREFACE_LEN] == '\n');
}

int main(void)
{
    if (sodium_init() < 0) {
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_exchange_and_frames),
        cmocka_unit_test(test_invalid_first_messages),
        cmocka_unit_test(test_padding_lengths),
        cmocka_unit_test(test_timestamp_window),
        cmocka_unit_test(test_prologue),
        cmocka_unit_test(test_h2_preface),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
