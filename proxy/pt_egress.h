/* pt_egress.h — the server's outgoing connections for tunnel streams:
 * asynchronous DNS (uv_getaddrinfo), an address policy, TCP connect with a
 * timeout, and the outcome as a PROTOCOL.md §10.1 wire code.
 *
 * Policy (default): no connection to loopback, private (RFC 1918, ULA),
 * link-local, CGNAT, multicast, unspecified/broadcast or documentation
 * ranges, nor to any address of this machine's interfaces: a client of the
 * tunnel must not reach the server's LAN or the server itself. A name that
 * resolves to several addresses is tried in resolver order, skipping the
 * forbidden ones; if every address is forbidden the answer is NOT_ALLOWED.
 */
#ifndef PT_PROXY_EGRESS_H
#define PT_PROXY_EGRESS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "pt_addr.h"
#include "pt_transport.h"

typedef struct pt_egress_policy {
    int allow_private;           /* 1: allow every address (tests, LAN setups) */
    uint64_t connect_timeout_ms; /* whole attempt, DNS included; default 10000 */
    /* The machine's own addresses (filled by pt_egress_policy_load_local). */
    struct sockaddr_storage local[32];
    size_t n_local;
} pt_egress_policy;

/* pt_egress_policy_default: private addresses forbidden, 10 s timeout,
 * and this machine's interface addresses loaded. */
void pt_egress_policy_default(pt_egress_policy *p);

/* pt_egress_addr_allowed: 1 if |sa| may be connected to under |p|. */
int pt_egress_addr_allowed(const pt_egress_policy *p, const struct sockaddr *sa);

typedef struct pt_egress_req pt_egress_req;

/* Outcome: |t| is the connected TCP transport (the callee owns it) and
 * |bound| its local address, with |code| = PT_WIRE_NO_ERROR; or |t| NULL and
 * |code| one of CONNECTION_REFUSED, HOST_UNREACHABLE, NETWORK_UNREACHABLE,
 * CONNECT_TIMEOUT, NOT_ALLOWED, NAME_NOT_RESOLVED, CONNECT_ERROR. */
typedef void (*pt_egress_cb)(pt_transport *t, uint32_t code, const pt_addr *bound, void *arg);

/* pt_egress_connect starts connecting to |target| (borrowed; |p| too, it
 * must outlive the request). |cb| is called exactly once, from the loop,
 * unless the request is cancelled first. Returns 0 and sets |*out| (for
 * cancelling), or PT_ERR_NOMEM / PT_ERR_INVAL (then |cb| is never called). */
int pt_egress_connect(uv_loop_t *loop, const pt_egress_policy *p, const pt_addr *target,
                      pt_egress_cb cb, void *arg, pt_egress_req **out);

/* pt_egress_cancel abandons |r|: |cb| will not be called; any connection
 * made is closed. Safe until |cb| has been called. */
void pt_egress_cancel(pt_egress_req *r);

/* pt_egress_code_from_uv maps a libuv connect/DNS error to a wire code. */
uint32_t pt_egress_code_from_uv(int uv_err);

#endif
