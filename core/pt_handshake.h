/* pt_handshake.h — the Phantom Tunnel handshake (PROTOCOL.md §5): Noise_IK
 * messages with our prologue and payload, framed by a 2-byte length, and
 * the frame keys that come out of it.
 *
 * Handshake message on the wire (inside TLS / QUIC / WebSocket):
 *   u16 noise_len | noise message (noise_len bytes, 1..PT_HS_MSG_MAX)
 * Handshake payload (the Noise payload of both messages):
 *   u8 version | u8 flags | u64 timestamp (Unix seconds) | 16 random bytes |
 *   TLV* (u8 type | u16 len | value)
 *
 * This module does crypto and parsing only: authorizing a client key,
 * checking the timestamp window and the replay cache are the server's, with
 * the helpers at the end of this header.
 */
#ifndef PT_CORE_HANDSHAKE_H
#define PT_CORE_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>

#include "pt_frame.h"
#include "pt_noise.h"

#define PT_PROTOCOL_VERSION 1
#define PT_HS_PROLOGUE_LABEL "phantom-tunnel/1"
#define PT_HS_PROLOGUE_LEN 17 /* 16-byte label + transport byte */
#define PT_HS_FIXED_LEN 26    /* version, flags, timestamp, random */
#define PT_HS_MSG_MAX 4096    /* largest Noise handshake message we accept */
#define PT_HS_MSG1_MIN (32 + 48 + PT_HS_FIXED_LEN + 16) /* 122 */
#define PT_HS_MSG2_MIN (32 + PT_HS_FIXED_LEN + 16)      /* 74 */
#define PT_HS_TIMESTAMP_WINDOW 300 /* seconds either side of the server's clock */

/* PROTOCOL.md §5.3: over TLS with ALPN "h2" the server's first bytes are
 * this fixed HTTP/2 server preface (nginx 1.22's SETTINGS and connection
 * WINDOW_UPDATE), sent before the first record is read; the client checks
 * it byte for byte and discards it before message 2. */
#define PT_HS_H2_PREFACE_LEN 40
extern const uint8_t pt_hs_h2_preface[PT_HS_H2_PREFACE_LEN];

/* Transport identifiers bound into the prologue. */
#define PT_TRANSPORT_TCP 0x00 /* plain TCP: tests and benchmarks only */
#define PT_TRANSPORT_TLS 0x01
#define PT_TRANSPORT_QUIC 0x02
#define PT_TRANSPORT_WEBSOCKET 0x03

#define PT_HS_FLAG_PADDING 0x01     /* please pad what you send me */
#define PT_HS_FLAG_COMPRESSION 0x02 /* reserved: always 0, ignored */

/* TLV types in the handshake payload. */
#define PT_HS_TLV_PADDING 0x00
#define PT_HS_TLV_STREAM_WINDOW 0x01
#define PT_HS_TLV_CONN_WINDOW 0x02
#define PT_HS_TLV_MAX_STREAMS 0x03

/* Defaults when a setting is absent, and the largest values allowed. */
#define PT_DEFAULT_STREAM_WINDOW 262144u
#define PT_DEFAULT_CONN_WINDOW 16777216u /* > stream window: see PROTOCOL.md §8.1 */
#define PT_DEFAULT_MAX_STREAMS 1024u
#define PT_MAX_STREAM_WINDOW 16777215u
#define PT_MAX_CONN_WINDOW 0x7fffffffu
#define PT_MAX_MAX_STREAMS 8388608u

typedef struct pt_hs_settings {
    uint32_t stream_window; /* initial receive window of each stream I accept or open */
    uint32_t conn_window;   /* initial connection-level receive window */
    uint32_t max_streams;   /* streams the peer may have open towards me */
} pt_hs_settings;

typedef struct pt_hs_payload {
    uint8_t version;
    uint8_t flags;
    uint64_t timestamp;
    uint8_t random[16];
    pt_hs_settings settings; /* defaults filled in where a TLV was absent */
} pt_hs_payload;

void pt_hs_settings_default(pt_hs_settings *s);

/* pt_hs_prologue writes the 17-byte Noise prologue for |transport|. */
void pt_hs_prologue(uint8_t out[PT_HS_PROLOGUE_LEN], uint8_t transport);

/* pt_hs_payload_encode writes |p| (settings TLVs only where they differ from
 * the defaults, in type order), then, if |pad_len| > 0, a PADDING TLV whose
 * value is |pad_len| - 3 bytes from |pad| (or the CSPRNG when |pad| is
 * NULL); |pad_len| is the TLV's whole size and must be 0 or >= 3. */
int pt_hs_payload_encode(uint8_t *out, size_t cap, size_t *out_len, const pt_hs_payload *p,
                         size_t pad_len, const uint8_t *pad);

/* pt_hs_payload_decode parses a decrypted payload. Returns PT_ERR_OK or
 * PT_ERR_PROTO (short, malformed TLV, duplicate or out-of-range setting,
 * version 0). Unknown TLV types are skipped. */
int pt_hs_payload_decode(pt_hs_payload *p, const uint8_t *in, size_t len);

/* pt_hs_pick_len returns a random Noise message length for message 1
 * (|msg| = 1: 200..699) or 2 (|msg| = 2: 100..1199), PROTOCOL.md §5.6. */
size_t pt_hs_pick_len(int msg);

/* ---- one side of a handshake -------------------------------------------- */

typedef struct pt_hs {
    pt_noise_handshake noise;
    uint8_t transport;
} pt_hs;

/* Result of a finished handshake: the frame keys for both directions. */
typedef struct pt_hs_keys {
    pt_frame_dir tx;
    pt_frame_opener rx;
} pt_hs_keys;

void pt_hs_keys_cleanup(pt_hs_keys *k);

/* Client. pt_hs_client_create writes the whole first message ([u16][msg1])
 * into |out|; |noise_len| is the desired Noise message length (from
 * pt_hs_pick_len; 0 = no padding). Test vectors pass |fixed_e| and |pad|;
 * everyone else NULL. */
int pt_hs_client_create(pt_hs *hs, uint8_t *out, size_t cap, size_t *out_len,
                        const uint8_t client_priv[32], const uint8_t server_pub[32],
                        uint8_t transport, const pt_hs_payload *p, size_t noise_len,
                        const uint8_t *fixed_e, const uint8_t *pad);

/* pt_hs_client_finish reads the server's message from |in|. Returns
 * PT_ERR_AGAIN (|*consumed| = total bytes needed once known), PT_ERR_OK
 * (|*consumed| bytes used; |*p| and |*keys| set), or a fatal error
 * (PT_ERR_FRAME_SIZE, PT_ERR_DECRYPT, PT_ERR_PROTO, PT_ERR_HANDSHAKE). */
int pt_hs_client_finish(pt_hs *hs, const uint8_t *in, size_t len, size_t *consumed,
                        pt_hs_payload *p, pt_hs_keys *keys, pt_aead_backend backend);

/* Server. pt_hs_server_read reads a first message. Returns PT_ERR_AGAIN
 * while fewer bytes than the prefix announces have arrived (the caller
 * decides when to stop waiting: see PROTOCOL.md §5.7), PT_ERR_OK with the
 * client's static key and payload, or an error (the bytes are not a valid
 * first message for this server: hand them to the decoy). */
int pt_hs_server_read(pt_hs *hs, const uint8_t *in, size_t len, size_t *consumed,
                      const uint8_t server_priv[32], uint8_t transport, uint8_t client_pub[32],
                      pt_hs_payload *p);

/* pt_hs_server_respond writes the server's message and derives the keys. */
int pt_hs_server_respond(pt_hs *hs, uint8_t *out, size_t cap, size_t *out_len,
                         const pt_hs_payload *p, size_t noise_len, const uint8_t *fixed_e,
                         const uint8_t *pad, pt_hs_keys *keys, pt_aead_backend backend);

void pt_hs_cleanup(pt_hs *hs);

/* pt_hs_timestamp_ok: |ts| within ±PT_HS_TIMESTAMP_WINDOW of |now|. */
int pt_hs_timestamp_ok(uint64_t ts, uint64_t now);

#endif /* PT_CORE_HANDSHAKE_H */
