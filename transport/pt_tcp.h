/* pt_tcp.h — plain TCP as a pt_transport (libuv), with a listener.
 * Used directly by tests and benchmarks, and as the layer under TLS. */
#ifndef PT_TRANSPORT_TCP_H
#define PT_TRANSPORT_TCP_H

#include "pt_transport.h"

typedef void (*pt_tcp_connect_cb)(pt_transport *t, int status, void *arg);

/* pt_tcp_connect starts a connection to |addr|. On success (return 0) |cb|
 * is called once: with the new transport and status 0, or with NULL and a
 * libuv error (the transport is then already gone). */
int pt_tcp_connect(uv_loop_t *loop, const struct sockaddr *addr, pt_tcp_connect_cb cb, void *arg);

/* pt_tcp_connect_ex is pt_tcp_connect that also returns a handle for
 * pt_tcp_connect_cancel, valid until |cb| has been called. */
typedef struct pt_tcp_connecting pt_tcp_connecting;
int pt_tcp_connect_ex(uv_loop_t *loop, const struct sockaddr *addr, pt_tcp_connect_cb cb,
                      void *arg, pt_tcp_connecting **out);

/* pt_tcp_connect_cancel abandons a connect in flight (e.g. its caller's
 * timeout fired): the socket is closed at once — no SYN retries linger for
 * minutes — and |cb| is called with (NULL, UV_ECANCELED) from the loop. */
void pt_tcp_connect_cancel(pt_tcp_connecting *c);

typedef struct pt_tcp_listener pt_tcp_listener;
/* Called for each accepted connection; the callee owns |t|. */
typedef void (*pt_tcp_accept_cb)(pt_tcp_listener *l, pt_transport *t, void *arg);

/* pt_tcp_listen binds |addr| and listens (an IPv6 address IPv6-only, as
 * nginx's ipv6only=on). Returns 0 and sets |*out|, or a libuv error
 * (UV_EADDRINUSE, ...). */
int pt_tcp_listen(uv_loop_t *loop, const struct sockaddr *addr, int backlog, pt_tcp_accept_cb cb,
                  void *arg, pt_tcp_listener **out);

/* pt_tcp_listener_port returns the bound port (useful with port 0). */
int pt_tcp_listener_port(const pt_tcp_listener *l);

/* pt_tcp_listener_close stops listening and frees |l| (asynchronously). */
void pt_tcp_listener_close(pt_tcp_listener *l);

/* pt_tcp_handle returns the libuv handle under a TCP transport (for
 * getpeername and the like), or NULL if |t| is not TCP. */
uv_tcp_t *pt_tcp_handle(pt_transport *t);

#endif /* PT_TRANSPORT_TCP_H */
