/* pt_socks5.h — sans-I/O SOCKS5 server side (RFC 1928, RFC 1929) for the
 * local listener: the glue feeds what the application sent, writes what the
 * machine answers, and opens a tunnel stream to the CONNECT target.
 *
 *   read      -> rc = pt_socks5_consume(s, out, sizeof(out), &out_len, &used, buf, n)
 *                write out[0..out_len) in every case, then:
 *                AGAIN: keep reading;
 *                OK:    open a stream to pt_socks5_target(s); buf[used..n)
 *                       is early data for that stream (forward it, do not
 *                       drop it); stop feeding the machine;
 *                PROTO: close once out is written.
 *   stream opened -> pt_socks5_reply_success(s, ..., bound)   -> write, relay
 *   stream failed -> pt_socks5_reply_failure(s, ..., wire_code) -> write, close
 *
 * Messages (RFC 1928 §3, §4, §6; RFC 1929 §2):
 *   greeting  VER=5 NMETHODS METHODS[NMETHODS]         answer 05 <method>
 *   auth      VER=1 ULEN UNAME PLEN PASSWD             answer 01 00 | 01 01
 *   request   VER=5 CMD RSV=0 ATYP DST.ADDR DST.PORT   answer after the stream
 *   reply     VER=5 REP RSV=0 ATYP BND.ADDR BND.PORT
 *
 * Any split of the input gives the same result: the machine copies at most
 * one message at a time into a buffer sized for the largest valid one (513
 * bytes, the auth message), never reads past the request, and answers AGAIN
 * only while the message it holds is shorter than what its length fields
 * promise. Nothing is allocated; credentials are wiped from the buffer as
 * soon as they are checked, and again by pt_socks5_cleanup.
 *
 * Failures during negotiation, and what is answered before closing:
 *   greeting VER != 5 (SOCKS4, HTTP, TLS...)        nothing (we cannot speak it)
 *   no offered method acceptable (incl. NMETHODS=0)  05 FF          (RFC 1928 §3)
 *   auth VER != 1                                    01 01          (RFC 1929 §2)
 *   wrong username or password                       01 01
 *   request VER != 5 or RSV != 0                     REP 01 general failure
 *   CMD BIND (2), UDP ASSOCIATE (3) or unknown       REP 07 command not supported
 *   unknown ATYP                                     REP 08 address type not supported
 *   domain of length 0, or a byte outside 0x21..0x7e REP 01 general failure
 * The last one is 01, not 08: the address type is supported, the name is
 * malformed, and 08 would make curl print "address type not supported",
 * sending the user after the wrong problem. Every failure reply carries
 * ATYP=1 BND=0.0.0.0:0.
 */
#ifndef PT_PROXY_SOCKS5_H
#define PT_PROXY_SOCKS5_H

#include <stddef.h>
#include <stdint.h>

#include "pt_addr.h"
#include "pt_proxy_cred.h"

/* Methods (RFC 1928 §3). */
#define PT_SOCKS5_METHOD_NONE 0x00
#define PT_SOCKS5_METHOD_USERPASS 0x02
#define PT_SOCKS5_METHOD_UNACCEPTABLE 0xff

/* Commands (RFC 1928 §4). */
#define PT_SOCKS5_CMD_CONNECT 0x01
#define PT_SOCKS5_CMD_BIND 0x02
#define PT_SOCKS5_CMD_UDP_ASSOCIATE 0x03

/* Reply codes (RFC 1928 §6). */
#define PT_SOCKS5_REP_SUCCEEDED 0x00
#define PT_SOCKS5_REP_GENERAL_FAILURE 0x01
#define PT_SOCKS5_REP_NOT_ALLOWED 0x02
#define PT_SOCKS5_REP_NETWORK_UNREACHABLE 0x03
#define PT_SOCKS5_REP_HOST_UNREACHABLE 0x04
#define PT_SOCKS5_REP_CONNECTION_REFUSED 0x05
#define PT_SOCKS5_REP_TTL_EXPIRED 0x06
#define PT_SOCKS5_REP_COMMAND_NOT_SUPPORTED 0x07
#define PT_SOCKS5_REP_ADDRESS_NOT_SUPPORTED 0x08

/* Largest valid client message: the RFC 1929 auth request, 1+1+255+1+255. */
#define PT_SOCKS5_IN_MAX 513
/* Most pt_socks5_consume can write in one call: method selection (2) +
 * auth status (2) + a failure reply (10), when all three messages arrive
 * in one read. */
#define PT_SOCKS5_OUT_MAX 14
/* Largest reply: VER REP RSV ATYP + a domain BND.ADDR (1+255) + port. */
#define PT_SOCKS5_REPLY_MAX (4 + 1 + PT_ADDR_DOMAIN_MAX + 2) /* 262 */

typedef enum pt_socks5_state {
    PT_SOCKS5_GREETING = 0, /* waiting for the method list */
    PT_SOCKS5_AUTH,         /* 02 chosen; waiting for RFC 1929 credentials */
    PT_SOCKS5_REQUEST,      /* waiting for the request */
    PT_SOCKS5_CONNECTING,   /* CONNECT parsed; waiting for the stream outcome */
    PT_SOCKS5_ESTABLISHED,  /* success reply built: relay bytes */
    PT_SOCKS5_FAILED,       /* a failure answer was built (or none): close */
} pt_socks5_state;

typedef struct pt_socks5 {
    const pt_proxy_cred *auth; /* NULL: no authentication */
    pt_socks5_state state;
    uint8_t method;          /* chosen in GREETING */
    const char *fail_reason; /* static text for logs, or NULL */
    pt_addr target;          /* valid from CONNECTING on */
    size_t buf_len;
    uint8_t buf[PT_SOCKS5_IN_MAX]; /* the message being received */
} pt_socks5;

/* pt_socks5_init starts a machine in GREETING. |auth| (NULL: no
 * authentication; else username/password is the only accepted method) is
 * borrowed and must outlive |s|: one listener's credentials serve all its
 * connections without a copy per connection. Returns PT_ERR_OK, or
 * PT_ERR_CONFIG if |auth| is not pt_proxy_cred_valid. */
int pt_socks5_init(pt_socks5 *s, const pt_proxy_cred *auth);

/* pt_socks5_cleanup wipes |s| (it may have held a password). */
void pt_socks5_cleanup(pt_socks5 *s);

/* pt_socks5_consume feeds |in_len| received bytes. It writes up to
 * PT_SOCKS5_OUT_MAX bytes to send into |out| (|*out_len|, possibly 0) and
 * sets |*consumed| to the bytes of |in| it used. Returns:
 *   PT_ERR_AGAIN: everything was used and the request is not complete yet;
 *   PT_ERR_OK: a CONNECT request is complete (state CONNECTING), its target
 *     is pt_socks5_target(s); in[*consumed..in_len) was sent after the
 *     request and belongs to the stream;
 *   PT_ERR_PROTO: negotiation failed (state FAILED; pt_socks5_fail_reason
 *     says why); send |out| — the answer the RFCs define, or nothing — and
 *     close the connection;
 *   PT_ERR_NOBUFS: |out_cap| < PT_SOCKS5_OUT_MAX (nothing consumed);
 *   PT_ERR_STATE: called outside GREETING/AUTH/REQUEST. */
int pt_socks5_consume(pt_socks5 *s, uint8_t *out, size_t out_cap, size_t *out_len, size_t *consumed,
                      const uint8_t *in, size_t in_len);

/* pt_socks5_target returns the CONNECT target (valid in CONNECTING and
 * later; a domain stays a name, to be resolved by the tunnel server so no
 * DNS query leaves this machine), or NULL before. */
const pt_addr *pt_socks5_target(const pt_socks5 *s);

/* pt_socks5_fail_reason returns why the machine failed ("auth: bad
 * credentials"...), or NULL if it has not. Static storage. */
const char *pt_socks5_fail_reason(const pt_socks5 *s);

/* pt_socks5_state_name returns "GREETING"... or "UNKNOWN". */
const char *pt_socks5_state_name(pt_socks5_state st);

/* pt_socks5_reply_success builds the success reply in CONNECTING: REP 00
 * with BND.ADDR/BND.PORT from |bound| (the server's bound address from the
 * STREAM_OPEN reply, PROTOCOL.md §7.2; NULL gives 0.0.0.0:0). State becomes
 * ESTABLISHED. Returns PT_ERR_OK, PT_ERR_INVAL (|bound| not encodable),
 * PT_ERR_NOBUFS (|out_cap| too small; PT_SOCKS5_REPLY_MAX always fits) or
 * PT_ERR_STATE; on error the state is unchanged. */
int pt_socks5_reply_success(pt_socks5 *s, uint8_t *out, size_t out_cap, size_t *out_len,
                            const pt_addr *bound);

/* pt_socks5_reply_failure builds the failure reply in CONNECTING from a
 * PT_WIRE_* code (pt_socks5_rep_from_wire), with BND 0.0.0.0:0. State
 * becomes FAILED; RFC 1928 §6: close the connection once it is written.
 * Returns PT_ERR_OK, PT_ERR_NOBUFS (|out_cap| < 10) or PT_ERR_STATE. */
int pt_socks5_reply_failure(pt_socks5 *s, uint8_t *out, size_t out_cap, size_t *out_len,
                            uint32_t wire_code);

/* pt_socks5_rep_from_wire maps a stream's PT_WIRE_* close code to the
 * SOCKS5 REP the application sees (PROTOCOL.md §10.1):
 *   CONNECTION_REFUSED 05, HOST_UNREACHABLE 04, NAME_NOT_RESOLVED 04,
 *   NETWORK_UNREACHABLE 03, CONNECT_TIMEOUT 06 (TTL expired),
 *   NOT_ALLOWED 02, ADDRESS_NOT_SUPPORTED 08; anything else — CONNECT_ERROR,
 *   REFUSED_STREAM, INTERNAL_ERROR, NO_ERROR, unknown codes, tunnel down —
 *   01 general failure. Never returns 00. */
uint8_t pt_socks5_rep_from_wire(uint32_t wire_code);

#endif /* PT_PROXY_SOCKS5_H */
