/* fuzz_handshake.c — libFuzzer target for the server's first-message parser
 * (pt_hs_server_read: framing, Noise IK message 1, payload TLVs) and the
 * client's reading of message 2.
 *
 * Random bytes almost never get past the first AEAD tag, so the input also
 * drives a real client: a byte selects a mode; in "crafted" modes the
 * fuzzer's bytes become the *payload* of a correctly encrypted message 1
 * (or 2), which reaches pt_hs_payload_decode with arbitrary TLVs, and the
 * framing prefix can be altered. Keys and ephemerals are fixed so that
 * runs are reproducible. Invariants: the parser never reads past the input
 * (ASan), AGAIN only for inputs shorter than the prefix announces, and a
 * decoded payload has settings within their ranges. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pt_err.h"
#include "pt_handshake.h"
#include "pt_noise.h"
#include "pt_fuzz.h"

static uint8_t s_priv[32], s_pub[32], c_priv[32], c_pub[32], e_fixed[32];

static void keys_once(void)
{
    static int done;
    if (done) {
        return;
    }
    for (int i = 0; i < 32; i++) {
        s_priv[i] = (uint8_t)(i + 1);
        c_priv[i] = (uint8_t)(0x80 + i);
        e_fixed[i] = (uint8_t)(0x40 + i);
    }
    pt_noise_pubkey(s_pub, s_priv);
    pt_noise_pubkey(c_pub, c_priv);
    done = 1;
}

static void check_payload(const pt_hs_payload *p)
{
    CHECK(p->version != 0);
    CHECK((p->flags & ~PT_HS_FLAG_PADDING) == 0);
    CHECK(p->settings.stream_window >= 1 && p->settings.stream_window <= PT_MAX_STREAM_WINDOW);
    CHECK(p->settings.conn_window >= 1 && p->settings.conn_window <= PT_MAX_CONN_WINDOW);
    CHECK(p->settings.max_streams <= PT_MAX_MAX_STREAMS);
}

static void server_read(const uint8_t *m, size_t len)
{
    pt_hs hs;
    memset(&hs, 0, sizeof(hs));
    uint8_t pub[32];
    pt_hs_payload p;
    size_t used = 0;
    /* An exact-size heap copy: ASan catches any read past the end. */
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, m, len);
    int rc = pt_hs_server_read(&hs, copy, len, &used, s_priv, PT_TRANSPORT_TLS, pub, &p);
    if (rc == PT_ERR_OK) {
        CHECK(used <= len);
        check_payload(&p);
    } else if (rc == PT_ERR_AGAIN) {
        CHECK(used > len); /* what it needs is more than it has */
    }
    pt_hs_cleanup(&hs);
    free(copy);
}

/* Seal |payload| (raw bytes, not validated) as a genuine message 1. */
static size_t craft_msg1(uint8_t *out, size_t cap, const uint8_t *payload, size_t payload_len)
{
    uint8_t prologue[PT_HS_PROLOGUE_LEN];
    pt_hs_prologue(prologue, PT_TRANSPORT_TLS);
    pt_noise_config cfg = {
        .hash = PT_NOISE_HASH_SHA256,
        .psk_pos = -1,
        .prologue = prologue,
        .prologue_len = sizeof(prologue),
        .local_static_priv = c_priv,
        .remote_static_pub = s_pub,
        .fixed_ephemeral_priv = e_fixed,
    };
    pt_noise_handshake hs;
    size_t n = 0;
    if (cap < 2 || pt_noise_handshake_init(&hs, PT_NOISE_INITIATOR, &cfg) != PT_ERR_OK ||
        pt_noise_handshake_create_init(&hs, out + 2, cap - 2, &n, payload, payload_len) !=
            PT_ERR_OK) {
        pt_noise_handshake_cleanup(&hs);
        return 0;
    }
    pt_noise_handshake_cleanup(&hs);
    out[0] = (uint8_t)(n >> 8);
    out[1] = (uint8_t)n;
    return n + 2;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    pt_fuzz_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pt_fuzz_rng_reset();
    keys_once();
    if (size < 1) {
        return 0;
    }
    uint8_t mode = data[0];
    data++;
    size--;
    static uint8_t msg[PT_HS_MSG_MAX + 64];
    switch (mode % 3) {
    case 0: /* raw first read */
        server_read(data, size);
        break;
    case 1: { /* a genuine message 1 around fuzzer-chosen payload bytes */
        size_t n = craft_msg1(msg, sizeof(msg), data, size > 3000 ? 3000 : size);
        if (n) {
            server_read(msg, n);
            /* Truncated and with a lying prefix. */
            server_read(msg, n / 2);
            msg[1] ^= (uint8_t)(mode >> 2);
            server_read(msg, n);
        }
        break;
    }
    default: { /* payload decoder alone */
        pt_hs_payload p;
        if (pt_hs_payload_decode(&p, data, size) == PT_ERR_OK) {
            check_payload(&p);
            /* What decodes re-encodes and decodes to the same settings. */
            uint8_t buf[PT_HS_MSG_MAX];
            size_t len = 0;
            pt_hs_payload q;
            CHECK(pt_hs_payload_encode(buf, sizeof(buf), &len, &p, 0, NULL) == PT_ERR_OK);
            CHECK(pt_hs_payload_decode(&q, buf, len) == PT_ERR_OK);
            CHECK(memcmp(&p.settings, &q.settings, sizeof(p.settings)) == 0);
            CHECK(p.timestamp == q.timestamp && p.version == q.version);
        }
        break;
    }
    }
    return 0;
}
