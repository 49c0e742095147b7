/* pt_selftest.c — `phantom selftest`: a real Phantom Tunnel handshake and
 * real encrypted frames between a client and a server in this process.
 * It shows what the protocol core does today, on the user's own keys,
 * before the network layers exist. Nothing here is simulated: the bytes
 * are the ones the wire will carry. */
#include "pt_selftest.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pt_err.h"
#include "pt_frame.h"
#include "pt_handshake.h"
#include "pt_keyfile.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail(const char *what, int rc)
{
    fprintf(stderr, "phantom selftest: %s: %s\n", what, pt_strerror(rc));
    return 1;
}

int pt_selftest_run(const char *server_key_path, const char *client_key_path)
{
    uint8_t s_priv[32], s_pub[32], c_priv[32], c_pub[32], seen_pub[32];
    char err[512];
    int rc, status = 1;
    pt_hs client, server;
    pt_hs_keys ck, sk;
    uint8_t *buf = NULL;

    memset(&client, 0, sizeof(client));
    memset(&server, 0, sizeof(server));
    memset(&ck, 0, sizeof(ck));
    memset(&sk, 0, sizeof(sk));
    if (server_key_path && client_key_path) {
        if (pt_keyfile_read(s_priv, server_key_path, err, sizeof(err)) != PT_ERR_OK ||
            pt_keyfile_read(c_priv, client_key_path, err, sizeof(err)) != PT_ERR_OK) {
            fprintf(stderr, "phantom selftest: %s\n", err);
            goto out;
        }
        pt_noise_pubkey(s_pub, s_priv);
        pt_noise_pubkey(c_pub, c_priv);
    } else {
        pt_noise_keypair(s_priv, s_pub);
        pt_noise_keypair(c_priv, c_pub);
    }

    /* Message 1: the client knows only the server's public key. */
    pt_hs_payload cp, sp, got_cp, got_sp;
    memset(&cp, 0, sizeof(cp));
    cp.version = PT_PROTOCOL_VERSION;
    cp.flags = PT_HS_FLAG_PADDING;
    cp.timestamp = (uint64_t)time(NULL);
    randombytes_buf(cp.random, sizeof(cp.random));
    pt_hs_settings_default(&cp.settings);
    cp.settings.conn_window = 16u << 20;
    sp = cp;
    randombytes_buf(sp.random, sizeof(sp.random));

    uint8_t m1[PT_HS_MSG_MAX + 2], m2[PT_HS_MSG_MAX + 2];
    size_t m1_len, m2_len, used;
    rc = pt_hs_client_create(&client, m1, sizeof(m1), &m1_len, c_priv, s_pub, PT_TRANSPORT_TLS,
                             &cp, pt_hs_pick_len(1), NULL, NULL);
    if (rc != PT_ERR_OK) {
        status = fail("client message 1", rc);
        goto out;
    }
    printf("client -> server  handshake message 1: %zu bytes (padded)\n", m1_len);

    rc = pt_hs_server_read(&server, m1, m1_len, &used, s_priv, PT_TRANSPORT_TLS, seen_pub, &got_cp);
    if (rc != PT_ERR_OK) {
        status = fail("server reading message 1", rc);
        goto out;
    }
    int authorized = sodium_memcmp(seen_pub, c_pub, 32) == 0;
    int fresh = pt_hs_timestamp_ok(got_cp.timestamp, (uint64_t)time(NULL));
    printf("server            client key %s, timestamp %s\n",
           authorized ? "authorized" : "UNKNOWN", fresh ? "in window" : "STALE");
    if (!authorized || !fresh) {
        goto out;
    }
    rc = pt_hs_server_respond(&server, m2, sizeof(m2), &m2_len, &sp, pt_hs_pick_len(2), NULL,
                              NULL, &sk, PT_AEAD_BORINGSSL);
    if (rc != PT_ERR_OK) {
        status = fail("server message 2", rc);
        goto out;
    }
    printf("server -> client  handshake message 2: %zu bytes (padded)\n", m2_len);
    rc = pt_hs_client_finish(&client, m2, m2_len, &used, &got_sp, &ck, PT_AEAD_BORINGSSL);
    if (rc != PT_ERR_OK) {
        status = fail("client reading message 2", rc);
        goto out;
    }
    printf("both              Noise_IK_25519_ChaChaPoly_SHA256 done; frame keys derived\n");

    /* Bulk: 64 MiB of 16 KiB DATA frames, sealed by the client and opened
     * by the server, every payload checked. */
    enum { CHUNK = 16384, COUNT = 4096 };
    buf = malloc(PT_FRAME_OVERHEAD + CHUNK + PT_FRAME_MAX_PAD);
    if (!buf) {
        goto out;
    }
    pt_pad_policy pad;
    pt_pad_policy_default(&pad);
    double t0 = now_s();
    for (int i = 0; i < COUNT; i++) {
        size_t wl;
        uint8_t *pl;
        pt_frame_hdr h;
        memset(buf + PT_FRAME_PAYLOAD_OFFSET, (uint8_t)i, CHUNK);
        rc = pt_frame_seal(&ck.tx, &pad, buf, PT_FRAME_OVERHEAD + CHUNK + PT_FRAME_MAX_PAD, &wl,
                           PT_FRAME_DATA, 1, NULL, CHUNK);
        if (rc == PT_ERR_OK) {
            rc = pt_frame_open(&sk.rx, buf, wl, &used, &h, &pl);
        }
        if (rc != PT_ERR_OK) {
            status = fail("frame", rc);
            goto out;
        }
        if (h.payload_len != CHUNK || pl[0] != (uint8_t)i || pl[CHUNK - 1] != (uint8_t)i) {
            fprintf(stderr, "phantom selftest: frame %d corrupted\n", i);
            goto out;
        }
    }
    double dt = now_s() - t0;
    printf("client -> server  %d DATA frames of %d bytes sealed and opened: %.0f MB/s\n", COUNT,
           CHUNK, (double)COUNT * CHUNK / dt / 1e6);
    printf("selftest passed. The network layers (session, TLS transport, SOCKS5) are not "
           "built yet.\n");
    status = 0;
out:
    free(buf);
    pt_hs_keys_cleanup(&ck);
    pt_hs_keys_cleanup(&sk);
    pt_hs_cleanup(&client);
    pt_hs_cleanup(&server);
    sodium_memzero(s_priv, sizeof(s_priv));
    sodium_memzero(c_priv, sizeof(c_priv));
    return status;
}
