/* pt_front.h — the server's front door: what a client, and a censor's
 * prober, connects to (docs/SECURITY.md).
 *
 * TCP listener -> TLS server (our certificate, ALPN as nginx) -> the first
 * TLS record decides (pt_link, PROTOCOL.md §5.7):
 *   - a valid message 1 from an authorized client: the link goes up and is
 *     handed to the owner (on_session);
 *   - anything else — silence, garbage, an HTTP request, a replay, a stale
 *     or unknown-key message: the connection, with every byte read so far,
 *     goes to the decoy web server: the built-in one (obfs/pt_decoy_http.h,
 *     imitating Debian's nginx) or a relay to a real web server (upstream).
 * Bytes that are not TLS at all (plain HTTP on the TLS port) go to the
 * built-in engine in its plain mode, which answers as nginx does ("400 The
 * plain HTTP request was sent to HTTPS port"); a TLS handshake that fails
 * gets BoringSSL's alert and a FIN, as nginx/OpenSSL.
 *
 * Timing: the time from the first record to the decoy's first byte is
 * padded up to what the costliest rejection takes (a well-formed message 1
 * with an unknown key: two X25519 and the AEAD), measured at start-up, so
 * that the decision does not show in the delay.
 *
 * One front serves many clients: the authorized key list and the replay
 * cache are in the link config (borrowed, shared by every connection).
 * Threads: one loop.
 */
#ifndef PT_PROXY_FRONT_H
#define PT_PROXY_FRONT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "pt_decoy_http.h"
#include "pt_link.h"
#include "pt_tls.h"

typedef struct pt_front pt_front;
typedef struct pt_front_conn pt_front_conn;

#define PT_FRONT_MAX_LISTEN 8

typedef struct pt_front_config {
    /* Where to accept: "127.0.0.1:443", "[::]:443" (literal addresses; an
     * IPv6 one is IPv6-only, as nginx's default ipv6only=on, so "0.0.0.0:443"
     * and "[::]:443" can both be listed). At least one. */
    const char *listen[PT_FRONT_MAX_LISTEN];
    size_t n_listen;
    pt_tls_server_config tls;
    /* Keys, authorized clients, replay cache, session tuning. The session
     * callbacks receive the connection's pt_front_conn as |user|: use
     * pt_front_conn_user to reach the owner's pointer. */
    pt_link_config link;
    pt_decoy_config decoy; /* built-in decoy; its |port| is the accepting listener's */
    /* Upstream mode: "127.0.0.1:8080" — decoy connections are relayed there
     * (plain TCP, HTTP/1.1); NULL: the built-in decoy. |upstream_h2|: where
     * HTTP/2 (ALPN h2) decoy connections go (nginx `listen ... http2;`,
     * prior knowledge); NULL: the built-in engine answers them. Every h2
     * connection has had nginx's HTTP/2 preface from the link already
     * (PROTOCOL.md §5.3): the upstream's own preface, the same 40 bytes from
     * an nginx with default http2 settings, is dropped from its reply (an
     * upstream that sends other bytes is relayed unchanged). */
    const char *upstream;
    const char *upstream_h2;
    /* Connections still in TLS or waiting for their first record. Above
     * it the oldest of them is closed (FIN) for each new one, as nginx
     * drains its idle "reusable" connections when worker_connections run
     * out. 0 means 1024. */
    size_t max_pending;
    /* TLS handshake time limit; 0 means 60000 (nginx: client_header_timeout
     * covers the handshake). */
    uint64_t tls_timeout_ms;

    /* A session is up. The owner attaches streams, may set its pointer
     * with pt_front_conn_set_user. */
    void (*on_session)(pt_link *l, pt_front_conn *fc, void *user);
    /* That session is over (the link is freed after return). */
    void (*on_session_down)(pt_link *l, pt_front_conn *fc, void *user, int err);
    void *user;
} pt_front_config;

/* pt_front_config_default: nginx defaults for the decoy and the TLS
 * timeout, link defaults (pt_link_config_default). Keys and listen unset. */
void pt_front_config_default(pt_front_config *cfg);

/* pt_front_new loads the certificate, binds and listens on every address.
 * |cfg| is copied; what it points to (strings, authorized keys, replay
 * cache, site) is borrowed and must outlive the front. Returns PT_ERR_OK
 * and sets |*out|, or PT_ERR_CONFIG (bad address, certificate, key),
 * PT_ERR_IO (bind), PT_ERR_NOMEM; on an address error |*bad_listen| (if not
 * NULL) is the index of the address at fault, else n_listen. Nothing stays
 * bound after an error. */
int pt_front_new(pt_front **out, uv_loop_t *loop, const pt_front_config *cfg, size_t *bad_listen);

/* pt_front_stop_listening closes the listener (a draining server accepts
 * nothing new) and keeps every connection and session as they are. */
void pt_front_stop_listening(pt_front *f);

/* pt_front_port returns the first listener's bound TCP port (0 once it
 * stopped listening). */
int pt_front_port(const pt_front *f);

/* pt_front_free stops listening and closes every connection still in the
 * front's hands (sessions already given to the owner are the owner's). */
void pt_front_free(pt_front *f);

/* Statistics, for tests and logs. */
typedef struct pt_front_stats {
    uint64_t accepted, sessions, decoys, upstream, plain, tls_failed, drained;
    size_t pending;
} pt_front_stats;
void pt_front_get_stats(const pt_front *f, pt_front_stats *out);

void *pt_front_conn_user(const pt_front_conn *fc);
void pt_front_conn_set_user(pt_front_conn *fc, void *p);

#endif /* PT_PROXY_FRONT_H */
