/* pt_http_proxy.h — sans-I/O parser for what a browser or curl sends to an
 * HTTP proxy (RFC 9110 §9.3.6, RFC 9112 §3.2), for the local listener:
 *
 *   CONNECT host:port HTTP/1.1        -> tunnel: answer 200, then relay
 *   GET http://host[:port]/p HTTP/1.1 -> open a stream to host:port (80 by
 *                                        default) and send the head
 *                                        rewritten to "GET /p HTTP/1.1"
 *
 *   read     -> rc = pt_http_proxy_consume(p, &used, buf, n)
 *               AGAIN: keep reading;
 *               OK:    open a stream to pt_http_proxy_target(p);
 *                      CONNECT: on success write pt_http_proxy_established_encode,
 *                        then relay; buf[used..n) is already tunnel data;
 *                      FORWARD: on success send pt_http_proxy_forward_head
 *                        to the stream, then buf[used..n) (the body, as is),
 *                        then relay;
 *                      on failure write pt_http_proxy_error_encode and close;
 *               PROTO: write pt_http_proxy_response_encode(status, reason)
 *                      with pt_http_proxy_status / _fail_reason, and close.
 *
 * One request per connection and per tunnel stream: the forwarded head gets
 * "Connection: close", so the origin closes after its response and the
 * client opens a new connection (and we a new stream) for the next request.
 * This keeps the proxy out of HTTP message framing entirely: the body is
 * forwarded byte for byte, never parsed, so client, proxy and origin cannot
 * disagree about where a request ends (no request smuggling through us).
 * The price is no connection reuse for plain http://; https:// (CONNECT),
 * which is nearly all traffic, is unaffected.
 *
 * Limits (each checked as bytes arrive, so AGAIN is answered only while the
 * head is shorter than the largest one accepted):
 *   request line, CRLF included      PT_HTTP_PROXY_LINE_MAX     else 414
 *   header section, blank line incl. PT_HTTP_PROXY_HEADERS_MAX  else 431
 *   header fields                    PT_HTTP_PROXY_FIELDS_MAX   else 431
 *   bad syntax (bare CR, control bytes, obs-fold, space before ':', two
 *   Host fields, bad target, https:// or origin-form target...)      400
 *   HTTP version other than 1.x                                     505
 *   credentials configured and Proxy-Authorization missing or wrong  407
 * Lines may end in CRLF or a bare LF (RFC 9112 §2.2); the forwarded head
 * always uses CRLF. Nothing is allocated: the head is accumulated in a
 * caller buffer, the result refers into it.
 */
#ifndef PT_PROXY_HTTP_PROXY_H
#define PT_PROXY_HTTP_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include "pt_addr.h"
#include "pt_cbs.h"
#include "pt_proxy_cred.h"

#define PT_HTTP_PROXY_LINE_MAX 8192u     /* request line incl. CRLF and blank lines before it */
#define PT_HTTP_PROXY_HEADERS_MAX 65536u /* header lines incl. CRLFs and the final blank line */
#define PT_HTTP_PROXY_FIELDS_MAX 100u
/* The head buffer given to pt_http_proxy_init must hold this much. */
#define PT_HTTP_PROXY_HEAD_MAX (PT_HTTP_PROXY_LINE_MAX + PT_HTTP_PROXY_HEADERS_MAX)
/* A buffer this large always holds pt_http_proxy_forward_head's output. It
 * is the received head, plus: the Host line (host + 10 bytes at most, while
 * the request line loses "http://" + host + port: net +1), a '/' for an
 * empty path, a CR for each of at most 102 bare-LF lines, and our
 * Upgrade/Connection lines (41) — under 256 in all. */
#define PT_HTTP_PROXY_FORWARD_MAX (PT_HTTP_PROXY_HEAD_MAX + 256u)
/* A buffer this large always holds a response built here. */
#define PT_HTTP_PROXY_RESPONSE_MAX 1024u
/* Realm sent in Proxy-Authenticate with 407. */
#define PT_HTTP_PROXY_REALM "phantom"

typedef enum pt_http_proxy_state {
    PT_HTTP_PROXY_HEAD = 0, /* receiving the request head */
    PT_HTTP_PROXY_DONE,     /* a valid request: see kind and target */
    PT_HTTP_PROXY_FAILED,   /* answer pt_http_proxy_status and close */
} pt_http_proxy_state;

typedef enum pt_http_proxy_kind {
    PT_HTTP_PROXY_NONE = 0,
    PT_HTTP_PROXY_CONNECT, /* CONNECT authority-form: a raw tunnel */
    PT_HTTP_PROXY_FORWARD, /* any other method with an http:// absolute URI */
} pt_http_proxy_kind;

/* One header field line of the head, as slices of the head buffer. */
typedef struct pt_http_proxy_field {
    pt_cbs line;  /* the whole line, without its CRLF / LF */
    pt_cbs name;  /* field-name */
    pt_cbs value; /* field-value, surrounding whitespace trimmed */
    uint8_t drop; /* hop-by-hop: not forwarded */
} pt_http_proxy_field;

typedef struct pt_http_proxy {
    const pt_proxy_cred *auth; /* NULL: no authentication */
    pt_http_proxy_state state;
    uint8_t *buf; /* the head so far (caller storage) */
    size_t cap;
    size_t len;

    /* scanner */
    size_t line_start; /* offset of the line being received */
    size_t head_start; /* offset of the header section, once the request line is in */
    int reqline_done;
    int cr; /* the previous byte was CR */
    pt_cbs reqline;

    /* result */
    pt_http_proxy_kind kind;
    pt_addr target;
    unsigned status;              /* in FAILED: the HTTP status to answer */
    const char *fail_reason;      /* static text, or NULL */
    pt_cbs method, path, version; /* FORWARD: path is the origin-form target */
    int path_needs_slash;         /* "http://h?q" and "http://h" forward as "/?q", "/" */
    pt_cbs host;                  /* the URI's host as written ([v6] keeps brackets) */
    int port_explicit;            /* the URI had a non-empty port */
    int websocket;                /* forward "Upgrade: websocket" */
    size_t nfields;
    pt_http_proxy_field fields[PT_HTTP_PROXY_FIELDS_MAX];
} pt_http_proxy;

/* pt_http_proxy_init prepares |p| to receive one request head into |buf|
 * (|cap| >= PT_HTTP_PROXY_HEAD_MAX). |buf| is borrowed until
 * pt_http_proxy_cleanup: the results (target aside) point into it. |auth|
 * (NULL: none) is borrowed and must outlive |p|. Returns PT_ERR_OK,
 * PT_ERR_INVAL (|cap| too small) or PT_ERR_CONFIG (|auth| not
 * pt_proxy_cred_valid). */
int pt_http_proxy_init(pt_http_proxy *p, const pt_proxy_cred *auth, uint8_t *buf, size_t cap);

/* pt_http_proxy_cleanup wipes |p| and the part of its buffer it used (the
 * head may hold Proxy-Authorization). */
void pt_http_proxy_cleanup(pt_http_proxy *p);

/* pt_http_proxy_consume feeds |in_len| received bytes and sets |*consumed|
 * to how many it took (it stops right after the blank line ending the head).
 * Returns:
 *   PT_ERR_AGAIN: all taken, the head is not complete;
 *   PT_ERR_OK: a valid request (state DONE): pt_http_proxy_kind_of,
 *     pt_http_proxy_target; in[*consumed..in_len) follows the head (tunnel
 *     data or request body) and must be forwarded after it;
 *   PT_ERR_PROTO: invalid or refused (state FAILED): answer
 *     pt_http_proxy_status(p) and close;
 *   PT_ERR_STATE: not in HEAD. */
int pt_http_proxy_consume(pt_http_proxy *p, size_t *consumed, const uint8_t *in, size_t in_len);

/* Results: kind and target in DONE (NONE / NULL before); status (400, 407,
 * 414, 431, 505) and a static reason in FAILED (0 / NULL otherwise). */
pt_http_proxy_kind pt_http_proxy_kind_of(const pt_http_proxy *p);
const pt_addr *pt_http_proxy_target(const pt_http_proxy *p);
unsigned pt_http_proxy_status(const pt_http_proxy *p);
const char *pt_http_proxy_fail_reason(const pt_http_proxy *p);

/* pt_http_proxy_forward_head writes the head to send to the origin for a
 * FORWARD request:
 *   METHOD SP origin-form SP HTTP-version CRLF
 *   Host: <the URI's host[:port]> CRLF     (replaces any received Host,
 *                                           RFC 9112 §3.2.2)
 *   every other field line as received, minus hop-by-hop ones CRLF
 *   Connection: close CRLF                (or, for a GET carrying Upgrade:
 *                                           websocket and Connection:
 *                                           upgrade: "Upgrade: websocket",
 *                                           "Connection: Upgrade")
 *   CRLF
 * Hop-by-hop (not forwarded): Connection and every field it names (except
 * Content-Length, Transfer-Encoding and Host: they frame or address the
 * body and request we forward unchanged), Keep-Alive, TE, Trailer, Upgrade,
 * and every Proxy-* field (Proxy-Connection, Proxy-Authorization...).
 * No Via or X-Forwarded-For is added: the origin is not told a proxy is in
 * the path. Returns PT_ERR_OK, PT_ERR_NOBUFS (|cap| too small;
 * PT_HTTP_PROXY_FORWARD_MAX always fits) or PT_ERR_STATE (not a FORWARD
 * request in DONE). */
int pt_http_proxy_forward_head(const pt_http_proxy *p, uint8_t *out, size_t cap, size_t *out_len);

/* pt_http_proxy_established_encode writes
 * "HTTP/1.1 200 Connection established\r\n\r\n" (no Content-Length or
 * Transfer-Encoding: RFC 9110 §9.3.6 forbids them on a 2xx to CONNECT).
 * Returns PT_ERR_OK or PT_ERR_NOBUFS. */
int pt_http_proxy_established_encode(uint8_t *out, size_t cap, size_t *out_len);

/* pt_http_proxy_response_encode writes a complete error response:
 *   HTTP/1.1 <status> <reason>, Content-Type: text/plain, Content-Length,
 *   Connection: close, for 407 Proxy-Authenticate: Basic realm="phantom",
 *   and a one-line body "phantom: <detail>\n" (|detail| may be NULL; bytes
 *   outside printable ASCII become '?', and it is cut to fit).
 * |status| is one of 400 403 407 414 431 502 503 504 505. Returns PT_ERR_OK,
 * PT_ERR_INVAL (other status) or PT_ERR_NOBUFS (PT_HTTP_PROXY_RESPONSE_MAX
 * always fits). */
int pt_http_proxy_response_encode(uint8_t *out, size_t cap, size_t *out_len, unsigned status,
                                  const char *detail);

/* pt_http_proxy_status_from_wire maps a stream's PT_WIRE_* close code to the
 * status answered to the client (and what it shows):
 *   CONNECTION_REFUSED, HOST_UNREACHABLE, NETWORK_UNREACHABLE,
 *   NAME_NOT_RESOLVED, ADDRESS_NOT_SUPPORTED, CONNECT_ERROR     502
 *   CONNECT_TIMEOUT                                             504
 *   NOT_ALLOWED                                                 403
 *   REFUSED_STREAM, ENHANCE_YOUR_CALM (tunnel busy: retry)      503
 *   anything else (INTERNAL_ERROR, unknown, tunnel down)        502
 * To a CONNECT, curl prints "CONNECT tunnel failed, response 502" (exit 56)
 * and Chrome shows ERR_TUNNEL_CONNECTION_FAILED whatever the status (it
 * never renders a proxy's body for CONNECT); Firefox shows its "proxy
 * server is refusing connections" page. To a plain http:// request the
 * browser renders our text/plain body, which names the cause. */
unsigned pt_http_proxy_status_from_wire(uint32_t wire_code);

/* pt_http_proxy_error_encode is pt_http_proxy_response_encode for a failed
 * stream: the status from pt_http_proxy_status_from_wire and a body naming
 * the cause and |target| (may be NULL), e.g.
 * "phantom: could not resolve example.com:443 (NAME_NOT_RESOLVED)". */
int pt_http_proxy_error_encode(uint8_t *out, size_t cap, size_t *out_len, uint32_t wire_code,
                               const pt_addr *target);

#endif /* PT_PROXY_HTTP_PROXY_H */
