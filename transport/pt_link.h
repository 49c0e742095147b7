/* pt_link.h — one tunnel connection: a pt_transport, the Phantom handshake
 * over it (PROTOCOL.md §5), then a pt_session driven from libuv (writes,
 * reads, timers). This is the glue between the sans-I/O core and the loop.
 *
 * Client: pt_link_client_new sends message 1 at once and waits for message
 * 2 (handshake timeout); then on_up fires and the session is usable.
 * Server: pt_link_server_new waits for the first bytes and decides on what
 * arrived (§5.7): a valid, authorized, fresh, unreplayed message 1 makes a
 * session (on_up); anything else goes to on_decoy with the transport and
 * every byte read so far, and the link is gone.
 * With h2_preface (TLS, ALPN "h2"; §5.3) the server first writes the fixed
 * HTTP/2 server preface pt_hs_h2_preface, and the client checks and drops
 * it before message 2.
 *
 * The application uses the session (pt_link_session) for streams and calls
 * pt_link_flush after calling stream functions outside session callbacks,
 * so their frames go out and timers are re-armed. Session callbacks are
 * the application's (given in the config); inside them no flush is needed.
 */
#ifndef PT_TRANSPORT_LINK_H
#define PT_TRANSPORT_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "pt_handshake.h"
#include "pt_replay.h"
#include "pt_session.h"
#include "pt_transport.h"

typedef struct pt_link pt_link;

typedef struct pt_link_callbacks {
    /* Handshake done: pt_link_session(l) is ready. */
    void (*on_up)(pt_link *l, void *user);
    /* The link is over (handshake failure, session closed and drained,
     * transport lost). |err| is a PT_ERR_* value (PT_ERR_OK after a
     * graceful GOAWAY). The link and its session are freed after return. */
    void (*on_down)(pt_link *l, void *user, int err);
    /* Server: not a valid first message. The callee owns |t| (its on_read /
     * on_eof are cleared; reading is stopped) and gets the bytes read so
     * far (borrowed for the call). The link is freed after return. */
    void (*on_decoy)(pt_transport *t, const uint8_t *data, size_t len, void *user);
} pt_link_callbacks;

typedef struct pt_link_config {
    uint8_t transport_id;         /* PT_TRANSPORT_* bound into the prologue */
    uint8_t local_priv[32];       /* this side's static private key */
    uint8_t server_pub[32];       /* client: the server's static public key */
    /* Server: authorized client public keys (borrowed; must outlive the link). */
    const uint8_t (*authorized)[32];
    size_t n_authorized;
    pt_replay *replay;            /* server: shared replay cache (borrowed) */
    pt_hs_settings settings;      /* what this side announces */
    pt_session_config session;    /* session tuning */
    pt_session_callbacks session_cb;
    uint64_t handshake_timeout_ms; /* 30000 */
    /* PROTOCOL.md §5.3: 1 when the transport is TLS and the negotiated ALPN
     * is "h2" (pt_tls_alpn), on both sides. Server: pt_link_server_new
     * writes the PT_HS_H2_PREFACE_LEN bytes of pt_hs_h2_preface before
     * reading anything (nginx sends its HTTP/2 preface right after the TLS
     * handshake). Client: the bytes before message 2 must start with exactly
     * those bytes, which are discarded; any other byte there fails the
     * handshake (PT_ERR_HANDSHAKE). 0 (default): nothing precedes message 2. */
    int h2_preface;
    pt_aead_backend aead;
    /* Timing jitter (PROTOCOL.md §9.2, our policy): the first write of a
     * burst — output after at least this many ms without a write — waits a
     * random 1..jitter_max_ms ms; writes within a burst go at once, so a
     * bulk transfer pays nothing. 0 (default): off. */
    uint64_t jitter_max_ms;
} pt_link_config;

/* pt_link_config_default: timeouts and session defaults, settings with a
 * 16 MiB connection window (the session needs conn > stream window so one
 * stalled reader cannot freeze the others), BoringSSL AEAD. Keys unset. */
void pt_link_config_default(pt_link_config *cfg);

/* pt_link_client_new / pt_link_server_new take ownership of |t| on success
 * (on failure the caller still owns it). |cfg| is copied (keys wiped from
 * the copy when the handshake ends). Return PT_ERR_OK or PT_ERR_NOMEM /
 * PT_ERR_INVAL / a handshake error. */
int pt_link_client_new(pt_link **out, uv_loop_t *loop, pt_transport *t, const pt_link_config *cfg,
                       const pt_link_callbacks *cb, void *user);
int pt_link_server_new(pt_link **out, uv_loop_t *loop, pt_transport *t, const pt_link_config *cfg,
                       const pt_link_callbacks *cb, void *user);

/* pt_link_session returns the session once up, else NULL. */
pt_session *pt_link_session(pt_link *l);

/* pt_link_jitter_holds: how many bursts timing jitter has delayed so far. */
uint64_t pt_link_jitter_holds(const pt_link *l);

/* pt_link_client_key returns the authenticated client's static public key
 * (server side, once up), else NULL. */
const uint8_t *pt_link_peer_key(const pt_link *l);

/* pt_link_flush sends what the session has queued and re-arms the timer.
 * Call it after stream functions made outside session callbacks. */
void pt_link_flush(pt_link *l);

/* pt_link_goaway starts a graceful drain (GOAWAY NO_ERROR); on_down(OK)
 * follows once streams finish. pt_link_close ends at once (on_down later,
 * from the loop, with |err|). */
void pt_link_goaway(pt_link *l);
void pt_link_close(pt_link *l, int err);

#endif /* PT_TRANSPORT_LINK_H */
