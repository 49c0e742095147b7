/* pt_handshake.c — handshake messages and payload; see pt_handshake.h and
 * docs/PROTOCOL.md §5. */
#include "pt_handshake.h"

#include <sodium.h>
#include <string.h>

#include "pt_cbs.h"
#include "pt_err.h"

/* PROTOCOL.md §5.3, frame by frame (RFC 9113 §4.1, §6.5, §6.9): what
 * nginx 1.22's ngx_http_v2_init sends first, measured on Debian 12. */
/* clang-format off */
const uint8_t pt_hs_h2_preface[PT_HS_H2_PREFACE_LEN] = {
    /* SETTINGS: length 18, type 0x4, flags 0, stream 0 */
    0x00, 0x00, 0x12, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x03, 0x00, 0x00, 0x00, 0x80, /* MAX_CONCURRENT_STREAMS 128 */
    0x00, 0x04, 0x00, 0x01, 0x00, 0x00, /* INITIAL_WINDOW_SIZE 65536 */
    0x00, 0x05, 0x00, 0xff, 0xff, 0xff, /* MAX_FRAME_SIZE 16777215 */
    /* WINDOW_UPDATE: length 4, type 0x8, flags 0, stream 0 */
    0x00, 0x00, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x7f, 0xff, 0x00, 0x00, /* increment 2147418112 = 2^31-1 - 65535 */
};
/* clang-format on */

#define MSG1_OVERHEAD (32 + 48 + 16) /* e, enc(s)+tag, payload tag */
#define MSG2_OVERHEAD (32 + 16)      /* e, payload tag */

void pt_hs_settings_default(pt_hs_settings *s)
{
    s->stream_window = PT_DEFAULT_STREAM_WINDOW;
    s->conn_window = PT_DEFAULT_CONN_WINDOW;
    s->max_streams = PT_DEFAULT_MAX_STREAMS;
}

void pt_hs_prologue(uint8_t out[PT_HS_PROLOGUE_LEN], uint8_t transport)
{
    memcpy(out, PT_HS_PROLOGUE_LABEL, PT_HS_PROLOGUE_LEN - 1);
    out[PT_HS_PROLOGUE_LEN - 1] = transport;
}

static void add_setting(pt_cbb *b, uint8_t type, uint32_t v, uint32_t dflt)
{
    if (v != dflt) {
        pt_cbb_add_u8(b, type);
        pt_cbb_add_u16(b, 4);
        pt_cbb_add_u32(b, v);
    }
}

int pt_hs_payload_encode(uint8_t *out, size_t cap, size_t *out_len, const pt_hs_payload *p,
                         size_t pad_len, const uint8_t *pad)
{
    if ((pad_len > 0 && pad_len < 3) || pad_len > 3 + 0xffff) {
        return PT_ERR_INVAL;
    }
    pt_cbb b;
    pt_cbb_init(&b, out, cap);
    pt_cbb_add_u8(&b, p->version);
    pt_cbb_add_u8(&b, p->flags);
    pt_cbb_add_u64(&b, p->timestamp);
    pt_cbb_add_bytes(&b, p->random, sizeof(p->random));
    add_setting(&b, PT_HS_TLV_STREAM_WINDOW, p->settings.stream_window, PT_DEFAULT_STREAM_WINDOW);
    add_setting(&b, PT_HS_TLV_CONN_WINDOW, p->settings.conn_window, PT_DEFAULT_CONN_WINDOW);
    add_setting(&b, PT_HS_TLV_MAX_STREAMS, p->settings.max_streams, PT_DEFAULT_MAX_STREAMS);
    if (pad_len) {
        pt_cbb_add_u8(&b, PT_HS_TLV_PADDING);
        pt_cbb_add_u16(&b, (uint16_t)(pad_len - 3));
        uint8_t *v = pt_cbb_reserve(&b, pad_len - 3);
        if (v) {
            if (pad) {
                memcpy(v, pad, pad_len - 3);
            } else {
                randombytes_buf(v, pad_len - 3);
            }
        }
    }
    if (!pt_cbb_ok(&b)) {
        return PT_ERR_NOBUFS;
    }
    *out_len = b.len;
    return PT_ERR_OK;
}

int pt_hs_payload_decode(pt_hs_payload *p, const uint8_t *in, size_t len)
{
    pt_cbs c;
    unsigned seen = 0;

    memset(p, 0, sizeof(*p));
    pt_hs_settings_default(&p->settings);
    pt_cbs_init(&c, in, len);
    if (!pt_cbs_get_u8(&c, &p->version) || !pt_cbs_get_u8(&c, &p->flags) ||
        !pt_cbs_get_u64(&c, &p->timestamp) || !pt_cbs_copy_bytes(&c, p->random, 16)) {
        return PT_ERR_PROTO;
    }
    if (p->version == 0) {
        return PT_ERR_PROTO;
    }
    p->flags &= PT_HS_FLAG_PADDING; /* reserved bits are ignored */
    while (pt_cbs_len(&c) > 0) {
        uint8_t type;
        pt_cbs val;
        uint32_t v = 0;
        if (!pt_cbs_get_u8(&c, &type) || !pt_cbs_get_u16_prefixed(&c, &val)) {
            return PT_ERR_PROTO;
        }
        if (type == PT_HS_TLV_PADDING || type > PT_HS_TLV_MAX_STREAMS) {
            continue; /* padding, or a setting from a later version */
        }
        if (seen & (1u << type) || !pt_cbs_get_u32(&val, &v) || pt_cbs_len(&val) != 0) {
            return PT_ERR_PROTO;
        }
        seen |= 1u << type;
        switch (type) {
        case PT_HS_TLV_STREAM_WINDOW:
            if (v == 0 || v > PT_MAX_STREAM_WINDOW) {
                return PT_ERR_PROTO;
            }
            p->settings.stream_window = v;
            break;
        case PT_HS_TLV_CONN_WINDOW:
            if (v == 0 || v > PT_MAX_CONN_WINDOW) {
                return PT_ERR_PROTO;
            }
            p->settings.conn_window = v;
            break;
        default: /* PT_HS_TLV_MAX_STREAMS */
            if (v > PT_MAX_MAX_STREAMS) {
                return PT_ERR_PROTO;
            }
            p->settings.max_streams = v;
            break;
        }
    }
    return PT_ERR_OK;
}

size_t pt_hs_pick_len(int msg)
{
    /* Uniform sizes in the range of a browser's first HTTP/2 flight (msg 1)
     * and a server's first response records (msg 2); PROTOCOL.md §5.6. */
    return msg == 1 ? 200 + randombytes_uniform(500) : 100 + randombytes_uniform(1100);
}

int pt_hs_timestamp_ok(uint64_t ts, uint64_t now)
{
    uint64_t d = ts > now ? ts - now : now - ts;
    return d <= PT_HS_TIMESTAMP_WINDOW;
}

void pt_hs_keys_cleanup(pt_hs_keys *k)
{
    pt_frame_dir_cleanup(&k->tx);
    pt_frame_opener_cleanup(&k->rx);
}

void pt_hs_cleanup(pt_hs *hs) { pt_noise_handshake_cleanup(&hs->noise); }

/* Padding TLV size that brings a message to |noise_len|, or 0. */
static size_t pad_for(size_t noise_len, size_t overhead, size_t payload_len)
{
    size_t base = overhead + payload_len;
    if (noise_len < base + 3 || noise_len > PT_HS_MSG_MAX) {
        return 0;
    }
    return noise_len - base;
}

/* Encode the payload (padded to |noise_len|) into |plain|. */
static int build_payload(uint8_t *plain, size_t cap, size_t *plain_len, const pt_hs_payload *p,
                         size_t noise_len, size_t overhead, const uint8_t *pad)
{
    size_t base_len;
    int rc = pt_hs_payload_encode(plain, cap, &base_len, p, 0, NULL);
    if (rc != PT_ERR_OK) {
        return rc;
    }
    size_t pad_len = pad_for(noise_len, overhead, base_len);
    if (pad_len == 0) {
        *plain_len = base_len;
        return PT_ERR_OK;
    }
    return pt_hs_payload_encode(plain, cap, plain_len, p, pad_len, pad);
}

static int derive_keys(pt_hs *hs, pt_hs_keys *keys, pt_aead_backend backend)
{
    uint8_t ks[32], kr[32];
    int rc = pt_noise_handshake_split(&hs->noise, ks, kr, NULL, NULL);
    /* The handshake state could re-derive k1/k2: wipe it now (§5.9). */
    pt_noise_handshake_cleanup(&hs->noise);
    if (rc == PT_ERR_OK) {
        memset(keys, 0, sizeof(*keys));
        rc = pt_frame_dir_init(&keys->tx, backend, ks);
        if (rc == PT_ERR_OK) {
            rc = pt_frame_opener_init(&keys->rx, backend, kr);
        }
        if (rc != PT_ERR_OK) {
            pt_hs_keys_cleanup(keys);
        }
    }
    sodium_memzero(ks, sizeof(ks));
    sodium_memzero(kr, sizeof(kr));
    return rc;
}

/* Read "u16 len | message" from |in|; AGAIN until it is all there. */
static int read_framed(const uint8_t *in, size_t len, size_t *consumed, pt_cbs *msg,
                       size_t min_len)
{
    pt_cbs c;
    uint16_t n;
    pt_cbs_init(&c, in, len);
    if (!pt_cbs_get_u16(&c, &n)) {
        *consumed = 2;
        return PT_ERR_AGAIN;
    }
    if (n < min_len || n > PT_HS_MSG_MAX) {
        return PT_ERR_FRAME_SIZE;
    }
    *consumed = 2 + (size_t)n;
    if (!pt_cbs_get_bytes(&c, msg, n)) {
        return PT_ERR_AGAIN;
    }
    return PT_ERR_OK;
}

int pt_hs_client_create(pt_hs *hs, uint8_t *out, size_t cap, size_t *out_len,
                        const uint8_t client_priv[32], const uint8_t server_pub[32],
                        uint8_t transport, const pt_hs_payload *p, size_t noise_len,
                        const uint8_t *fixed_e, const uint8_t *pad)
{
    uint8_t prologue[PT_HS_PROLOGUE_LEN];
    uint8_t plain[PT_HS_MSG_MAX];
    size_t plain_len, n;

    pt_hs_prologue(prologue, transport);
    hs->transport = transport;
    pt_noise_config cfg = {
        .hash = PT_NOISE_HASH_SHA256,
        .psk_pos = -1,
        .prologue = prologue,
        .prologue_len = sizeof(prologue),
        .local_static_priv = client_priv,
        .remote_static_pub = server_pub,
        .fixed_ephemeral_priv = fixed_e,
    };
    int rc = pt_noise_handshake_init(&hs->noise, PT_NOISE_INITIATOR, &cfg);
    if (rc == PT_ERR_OK) {
        rc = build_payload(plain, sizeof(plain) - MSG1_OVERHEAD, &plain_len, p, noise_len,
                           MSG1_OVERHEAD, pad);
    }
    if (rc == PT_ERR_OK && cap < 2) {
        rc = PT_ERR_NOBUFS;
    }
    if (rc == PT_ERR_OK) {
        rc = pt_noise_handshake_create_init(&hs->noise, out + 2, cap - 2, &n, plain, plain_len);
    }
    if (rc == PT_ERR_OK) {
        out[0] = (uint8_t)(n >> 8);
        out[1] = (uint8_t)n;
        *out_len = n + 2;
    }
    sodium_memzero(plain, sizeof(plain));
    return rc;
}

int pt_hs_client_finish(pt_hs *hs, const uint8_t *in, size_t len, size_t *consumed,
                        pt_hs_payload *p, pt_hs_keys *keys, pt_aead_backend backend)
{
    pt_cbs msg;
    uint8_t plain[PT_HS_MSG_MAX];
    size_t plain_len;

    int rc = read_framed(in, len, consumed, &msg, PT_HS_MSG2_MIN);
    if (rc != PT_ERR_OK) {
        return rc;
    }
    rc = pt_noise_handshake_consume_resp(&hs->noise, plain, sizeof(plain), &plain_len,
                                         pt_cbs_data(&msg), pt_cbs_len(&msg));
    if (rc == PT_ERR_OK) {
        rc = pt_hs_payload_decode(p, plain, plain_len);
    }
    if (rc == PT_ERR_OK) {
        rc = derive_keys(hs, keys, backend);
    }
    sodium_memzero(plain, sizeof(plain));
    return rc;
}

int pt_hs_server_read(pt_hs *hs, const uint8_t *in, size_t len, size_t *consumed,
                      const uint8_t server_priv[32], uint8_t transport, uint8_t client_pub[32],
                      pt_hs_payload *p)
{
    pt_cbs msg;
    uint8_t prologue[PT_HS_PROLOGUE_LEN];
    uint8_t plain[PT_HS_MSG_MAX];
    size_t plain_len;

    int rc = read_framed(in, len, consumed, &msg, PT_HS_MSG1_MIN);
    if (rc != PT_ERR_OK) {
        return rc;
    }
    pt_hs_prologue(prologue, transport);
    hs->transport = transport;
    pt_noise_config cfg = {
        .hash = PT_NOISE_HASH_SHA256,
        .psk_pos = -1,
        .prologue = prologue,
        .prologue_len = sizeof(prologue),
        .local_static_priv = server_priv,
    };
    rc = pt_noise_handshake_init(&hs->noise, PT_NOISE_RESPONDER, &cfg);
    if (rc == PT_ERR_OK) {
        rc = pt_noise_handshake_consume_init(&hs->noise, plain, sizeof(plain), &plain_len,
                                             pt_cbs_data(&msg), pt_cbs_len(&msg));
    }
    if (rc == PT_ERR_OK) {
        rc = pt_hs_payload_decode(p, plain, plain_len);
    }
    if (rc == PT_ERR_OK) {
        memcpy(client_pub, pt_noise_handshake_remote_static(&hs->noise), 32);
    }
    sodium_memzero(plain, sizeof(plain));
    return rc;
}

int pt_hs_server_respond(pt_hs *hs, uint8_t *out, size_t cap, size_t *out_len,
                         const pt_hs_payload *p, size_t noise_len, const uint8_t *fixed_e,
                         const uint8_t *pad, pt_hs_keys *keys, pt_aead_backend backend)
{
    uint8_t plain[PT_HS_MSG_MAX];
    size_t plain_len, n;

    if (fixed_e) {
        /* Vectors only: the responder's ephemeral is fixed at this point. */
        memcpy(hs->noise.fixed_e, fixed_e, 32);
        hs->noise.has_fixed_e = 1;
    }
    int rc = build_payload(plain, sizeof(plain) - MSG2_OVERHEAD, &plain_len, p, noise_len,
                           MSG2_OVERHEAD, pad);
    if (rc == PT_ERR_OK && cap < 2) {
        rc = PT_ERR_NOBUFS;
    }
    if (rc == PT_ERR_OK) {
        rc = pt_noise_handshake_create_resp(&hs->noise, out + 2, cap - 2, &n, plain, plain_len);
    }
    if (rc == PT_ERR_OK) {
        out[0] = (uint8_t)(n >> 8);
        out[1] = (uint8_t)n;
        *out_len = n + 2;
        rc = derive_keys(hs, keys, backend);
    }
    sodium_memzero(plain, sizeof(plain));
    return rc;
}
