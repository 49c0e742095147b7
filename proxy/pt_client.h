/* pt_client.h — the client daemon: local SOCKS5 and HTTP proxy listeners on
 * loopback, and one persistent tunnel (TCP -> TLS with the Chrome profile ->
 * Phantom handshake -> session) that carries every proxied connection.
 *
 * The tunnel is opened at start and kept up: when it is lost, it is
 * re-established with exponential backoff and jitter (1 s doubling up to
 * reconnect_max). Local connections that arrive meanwhile wait, up to
 * max_waiting of them and wait_timeout each; past either bound they get the
 * proxy protocol's failure answer (SOCKS5 01, HTTP 503) at once.
 */
#ifndef PT_PROXY_CLIENT_H
#define PT_PROXY_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "pt_frame.h"
#include "pt_proxy_cred.h"
#include "pt_tls.h"

typedef struct pt_client_config {
    /* The server. */
    char endpoint_host[256];
    uint16_t endpoint_port;
    char server_name[256]; /* SNI and certificate name; "" = none */
    uint8_t server_pub[32];
    pt_tls_client_config tls; /* verification mode, pins */
    int plain_tcp;            /* tests only: no TLS (transport id 0x00) */
    /* This machine. */
    uint8_t client_priv[32];
    int socks_enabled, http_enabled;
    struct sockaddr_storage socks_addr, http_addr;
    const pt_proxy_cred *cred; /* NULL: no proxy authentication (borrowed) */
    pt_pad_policy pad;
    uint64_t cover_interval_ms;  /* cover traffic (pt_session_config); 0 = off */
    uint64_t jitter_ms;          /* timing jitter (pt_link_config); 0 = off */
    /* 1: answer SOCKS5 / CONNECT with success as soon as the stream is
     * opened and send the first bytes with it, one round trip sooner; a
     * target that cannot be reached then shows as a reset connection, not
     * as a SOCKS5 / HTTP error. 0 (default): answer with the outcome. */
    int optimistic;
    uint64_t reconnect_max_ms;   /* 60000 */
    uint64_t reconnect_min_ms;   /* 1000 */
    size_t max_waiting;          /* 256 */
    uint64_t wait_timeout_ms;    /* 30000 */
    uint64_t handshake_timeout_ms; /* 30000 */
} pt_client_config;

/* pt_client_config_default: listeners 127.0.0.1:1080 and :8118, RANDOM
 * padding, the bounds above, TLS verification "system". Keys unset. */
void pt_client_config_default(pt_client_config *c);

typedef struct pt_client pt_client;

/* pt_client_start binds the listeners and starts the tunnel. Returns 0 or a
 * PT_ERR_* value with a one-line reason in |err| (e.g. port in use). */
int pt_client_start(pt_client **out, uv_loop_t *loop, const pt_client_config *cfg, char *err,
                    size_t err_cap);

/* pt_client_stop closes the listeners, drains the tunnel (GOAWAY) and frees
 * everything once the last connection is gone; the loop then ends. */
void pt_client_stop(pt_client *c);

/* pt_client_tunnel_up: 1 while a session is established (for tests/logs). */
int pt_client_tunnel_up(const pt_client *c);

/* Bound ports (useful with port 0 in tests); 0 if disabled. */
int pt_client_socks_port(const pt_client *c);
int pt_client_http_port(const pt_client *c);

#endif
