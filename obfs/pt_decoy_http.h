/* pt_decoy_http.h — the decoy web server, sans I/O: bytes and a time in,
 * bytes, a deadline and a "how to close" out (STYLE §1). What a prober
 * talks to once the server has decided a connection is not ours
 * (PROTOCOL.md §5.7): it answers as Debian 12's nginx 1.22 with its
 * default configuration and `error_page 404 /404.html` would, for every
 * input — byte-identical headers and error pages, the same accept/reject
 * rules for request lines and headers (a 400 at the first invalid byte),
 * the same limits (414, 400 "Request Header Or Cookie Too Large"), the same
 * timeouts (client_header_timeout 60 s, keepalive_timeout 75 s) and the same
 * way of closing (docs/SECURITY.md has the measurements).
 *
 * HTTP/1.1 (and 1.0, 0.9) is parsed here; HTTP/2 (ALPN h2) goes through
 * nghttp2's sans-I/O session with nginx's SETTINGS. PT_DECOY_PLAIN_ON_TLS is
 * plain HTTP that arrived on the TLS port: nginx parses it and answers a
 * complete request with "400 The plain HTTP request was sent to HTTPS port".
 *
 * Use: create with the time the connection became ready for requests (end
 * of the TLS handshake); feed bytes with pt_decoy_on_bytes while
 * pt_decoy_wants_read; send what pt_decoy_output shows and report it with
 * pt_decoy_output_done; arm a timer for pt_decoy_deadline and call
 * pt_decoy_on_timer; once pt_decoy_close_how is not PT_DECOY_OPEN and the
 * output is drained, close the connection that way.
 *
 * Threads: one engine per connection, one thread at a time.
 */
#ifndef PT_OBFS_DECOY_HTTP_H
#define PT_OBFS_DECOY_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "pt_decoy_site.h"

typedef struct pt_decoy pt_decoy;

/* Now, twice: a monotonic clock for deadlines, the wall clock for Date. */
typedef struct pt_decoy_time {
    uint64_t ms;    /* monotonic milliseconds (the caller's loop clock) */
    int64_t unix_s; /* seconds since the epoch */
} pt_decoy_time;

typedef enum pt_decoy_proto {
    PT_DECOY_HTTP1 = 0,       /* inside TLS, no ALPN or http/1.1 */
    PT_DECOY_HTTP2 = 1,       /* inside TLS, ALPN h2 */
    PT_DECOY_PLAIN_ON_TLS = 2 /* plain bytes on the TLS port */
} pt_decoy_proto;

/* How to end the connection once the output is drained. */
typedef enum pt_decoy_close {
    PT_DECOY_OPEN = 0,    /* not yet */
    PT_DECOY_CLOSE,       /* close_notify (TLS), FIN, close */
    PT_DECOY_CLOSE_QUIET, /* FIN without close_notify: nginx's timed-out close */
    PT_DECOY_LINGER,      /* close_notify, FIN, then read and discard until the
                             peer's FIN, 5 s of silence or 30 s (lingering_close) */
    PT_DECOY_RESET,       /* RST (SO_LINGER 0) */
} pt_decoy_close;

typedef struct pt_decoy_config {
    const pt_decoy_site *site; /* NULL: the built-in site */
    /* Server header and error-page signature: "nginx/1.22.1" (default) or
     * "nginx" (server_tokens off). */
    const char *server;
    uint16_t port;                     /* our TLS port, for absolute redirects (443 is implied) */
    uint64_t client_header_timeout_ms; /* 60000 */
    uint64_t keepalive_timeout_ms;     /* 75000 */
    /* (A body after the answer is dropped under nginx's lingering timers,
     * 5 s between reads and 30 s in all, not client_body_timeout: nginx
     * has finalized the request by then.) */
    /* PT_DECOY_HTTP2 only: 1 when nginx's HTTP/2 server preface (SETTINGS,
     * WINDOW_UPDATE: pt_hs_h2_preface, PROTOCOL.md §5.3) already went to
     * the client before the engine took over. The engine then does not send
     * it again, but its HTTP/2 state is that of a server that has sent it
     * (the SETTINGS await the client's ACK, the connection window is
     * 2^31-1). Default 0. */
    int h2_preface_sent;
} pt_decoy_config;

/* pt_decoy_config_default: Debian nginx 1.22 defaults, built-in site. */
void pt_decoy_config_default(pt_decoy_config *cfg);

/* pt_decoy_new creates an engine. |start_ms| is when nginx would have armed
 * client_header_timeout (the end of the TLS handshake); it may be earlier
 * than |now.ms| (the connection waited before reaching the decoy). The
 * config is copied; |cfg->site| and |cfg->server| are borrowed and must
 * outlive the engine. HTTP/2 queues the server preface (SETTINGS,
 * WINDOW_UPDATE) at once, unless |cfg->h2_preface_sent|. Returns PT_ERR_OK,
 * PT_ERR_NOMEM or PT_ERR_INVAL. */
int pt_decoy_new(pt_decoy **out, const pt_decoy_config *cfg, pt_decoy_proto proto,
                 uint64_t start_ms, pt_decoy_time now);
void pt_decoy_free(pt_decoy *d);

/* pt_decoy_on_bytes processes received bytes: all of them, when called
 * while pt_decoy_wants_read with at most 65536 bytes (one transport read);
 * otherwise PT_ERR_NOBUFS and nothing is taken. Returns PT_ERR_OK,
 * PT_ERR_NOBUFS or PT_ERR_NOMEM. */
int pt_decoy_on_bytes(pt_decoy *d, const uint8_t *in, size_t len, pt_decoy_time now);

/* pt_decoy_on_eof: the peer ended its side (FIN or close_notify). */
void pt_decoy_on_eof(pt_decoy *d, pt_decoy_time now);

/* pt_decoy_on_timer: call at (or after) pt_decoy_deadline. */
void pt_decoy_on_timer(pt_decoy *d, pt_decoy_time now);

/* pt_decoy_output sets |*out| to the bytes ready to send and returns their
 * count (0 if none). They stay valid until the next call into the engine. */
size_t pt_decoy_output(pt_decoy *d, const uint8_t **out);

/* pt_decoy_output_done: the first |n| bytes of the output were handed to
 * the transport. Buffered requests waiting behind the output resume. */
void pt_decoy_output_done(pt_decoy *d, size_t n, pt_decoy_time now);

/* pt_decoy_deadline: when to call pt_decoy_on_timer; UINT64_MAX if never. */
uint64_t pt_decoy_deadline(const pt_decoy *d);

/* pt_decoy_close_how: PT_DECOY_OPEN while the connection goes on. */
pt_decoy_close pt_decoy_close_how(const pt_decoy *d);

/* pt_decoy_wants_read: 1 if the engine takes more input now (0 while a
 * response is waiting to be sent, as nginx does not read ahead). */
int pt_decoy_wants_read(const pt_decoy *d);

/* pt_decoy_error_page writes nginx's built-in page for |status| (301, 400,
 * 403, 404, 405, 408, 413, 414, 416, 494, 497, 500, 501, 505) signed with
 * |server| into |buf|. Returns its length (0 for a status without a page,
 * or if |cap| is too small). */
size_t pt_decoy_error_page(char *buf, size_t cap, const char *server, int status);

#endif /* PT_OBFS_DECOY_HTTP_H */
