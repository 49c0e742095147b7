/* pt_socks5.c — sans-I/O SOCKS5 server side; see pt_socks5.h.
 *
 * Each do_<state>() parses the message held in s->buf with a pt_cbs. When a
 * getter runs short it returns AGAIN with |*need| set to the length the
 * message is now known to have (at least one more byte than is held), and
 * pt_socks5_consume copies exactly that many more bytes from the input, so
 * the machine never takes a byte of the next message — or of the early data
 * after the request — by mistake. Fields are checked as soon as they are
 * held, so garbage is answered after the first bad byte, not after a
 * buffer's worth.
 */
#include "pt_socks5.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "pt_cbs.h"
#include "pt_err.h"
#include "pt_frame.h"

#ifdef PT_SOCKS5_DEBUG
#define SOCKS5_LOG(...) fprintf(stderr, "pt_socks5: " __VA_ARGS__)
#else
#define SOCKS5_LOG(...) ((void)0)
#endif

#define SOCKS5_VER 0x05
#define AUTH_VER 0x01 /* RFC 1929 §2: sub-negotiation version */
#define AUTH_OK 0x00
#define AUTH_FAIL 0x01 /* any non-zero status is a failure; 01 is customary */
#define FAIL_REPLY_LEN 10

static const char *const kStateNames[] = {
    [PT_SOCKS5_GREETING] = "GREETING",       [PT_SOCKS5_AUTH] = "AUTH",
    [PT_SOCKS5_REQUEST] = "REQUEST",         [PT_SOCKS5_CONNECTING] = "CONNECTING",
    [PT_SOCKS5_ESTABLISHED] = "ESTABLISHED", [PT_SOCKS5_FAILED] = "FAILED",
};

const char *pt_socks5_state_name(pt_socks5_state st)
{
    if ((unsigned)st >= sizeof(kStateNames) / sizeof(kStateNames[0])) {
        return "UNKNOWN";
    }
    return kStateNames[st];
}

static void set_state(pt_socks5 *s, pt_socks5_state st)
{
    SOCKS5_LOG("%p %s -> %s\n", (void *)s, pt_socks5_state_name(s->state),
               pt_socks5_state_name(st));
    s->state = st;
}

static int fail(pt_socks5 *s, const char *why)
{
    SOCKS5_LOG("%p failed: %s\n", (void *)s, why);
    s->fail_reason = why;
    set_state(s, PT_SOCKS5_FAILED);
    return PT_ERR_PROTO;
}

/* The message in s->buf has been handled: forget it (it may be the
 * credentials, so wipe rather than just reset the length). */
static void drop_message(pt_socks5 *s)
{
    sodium_memzero(s->buf, s->buf_len);
    s->buf_len = 0;
}

/* RFC 1928 §6: VER REP RSV ATYP BND.ADDR BND.PORT. */
static int put_reply(pt_cbb *b, uint8_t rep, const pt_addr *bound)
{
    static const pt_addr kZero = {.type = PT_ADDR_IPV4};
    pt_cbb_add_u8(b, SOCKS5_VER);
    pt_cbb_add_u8(b, rep);
    pt_cbb_add_u8(b, 0x00);
    int rc = pt_addr_encode(b, bound ? bound : &kZero);
    if (rc != PT_ERR_OK) {
        return rc;
    }
    return pt_cbb_ok(b) ? PT_ERR_OK : PT_ERR_NOBUFS;
}

int pt_socks5_init(pt_socks5 *s, const pt_proxy_cred *auth)
{
    memset(s, 0, sizeof(*s));
    if (auth && !pt_proxy_cred_valid(auth)) {
        s->state = PT_SOCKS5_FAILED;
        return PT_ERR_CONFIG;
    }
    s->auth = auth;
    s->state = PT_SOCKS5_GREETING;
    s->method = PT_SOCKS5_METHOD_UNACCEPTABLE;
    return PT_ERR_OK;
}

void pt_socks5_cleanup(pt_socks5 *s)
{
    sodium_memzero(s, sizeof(*s));
}

/* RFC 1928 §3: VER NMETHODS METHODS. */
static int do_greeting(pt_socks5 *s, pt_cbb *ob, size_t *need)
{
    pt_cbs c, methods;
    uint8_t ver, n;

    pt_cbs_init(&c, s->buf, s->buf_len);
    if (!pt_cbs_get_u8(&c, &ver)) {
        *need = 1;
        return PT_ERR_AGAIN;
    }
    if (ver != SOCKS5_VER) {
        /* SOCKS4, HTTP or a TLS ClientHello: none of them understands a
         * SOCKS5 answer, so none is sent. */
        return fail(s, "greeting: version is not 5");
    }
    if (!pt_cbs_get_u8(&c, &n)) {
        *need = 2;
        return PT_ERR_AGAIN;
    }
    if (!pt_cbs_get_bytes(&c, &methods, n)) {
        *need = 2 + (size_t)n;
        return PT_ERR_AGAIN;
    }

    /* With credentials configured, username/password is the only method we
     * take: offering "no authentication" must not get around them. Without,
     * we take only "no authentication": a client set up with credentials
     * that reaches a listener without them fails at once and visibly. */
    uint8_t want = s->auth ? PT_SOCKS5_METHOD_USERPASS : PT_SOCKS5_METHOD_NONE;
    int found = 0;
    uint8_t m;
    while (pt_cbs_get_u8(&methods, &m)) {
        found |= m == want;
    }
    drop_message(s);
    pt_cbb_add_u8(ob, SOCKS5_VER);
    if (!found) {
        pt_cbb_add_u8(ob, PT_SOCKS5_METHOD_UNACCEPTABLE); /* §3: then close */
        return fail(s, "greeting: no acceptable method");
    }
    pt_cbb_add_u8(ob, want);
    s->method = want;
    set_state(s, s->auth ? PT_SOCKS5_AUTH : PT_SOCKS5_REQUEST);
    return PT_ERR_OK;
}

/* RFC 1929 §2: VER ULEN UNAME PLEN PASSWD. */
static int do_auth(pt_socks5 *s, pt_cbb *ob, size_t *need)
{
    pt_cbs c, user, pass;
    uint8_t ver, ulen, plen;

    pt_cbs_init(&c, s->buf, s->buf_len);
    if (!pt_cbs_get_u8(&c, &ver)) {
        *need = 1;
        return PT_ERR_AGAIN;
    }
    if (ver != AUTH_VER) {
        drop_message(s);
        pt_cbb_add_u8(ob, AUTH_VER);
        pt_cbb_add_u8(ob, AUTH_FAIL);
        return fail(s, "auth: sub-negotiation version is not 1");
    }
    if (!pt_cbs_get_u8(&c, &ulen)) {
        *need = 2;
        return PT_ERR_AGAIN;
    }
    if (!pt_cbs_get_bytes(&c, &user, ulen)) {
        *need = 2 + (size_t)ulen;
        return PT_ERR_AGAIN;
    }
    if (!pt_cbs_get_u8(&c, &plen)) {
        *need = 3 + (size_t)ulen;
        return PT_ERR_AGAIN;
    }
    if (!pt_cbs_get_bytes(&c, &pass, plen)) {
        *need = 3 + (size_t)ulen + plen;
        return PT_ERR_AGAIN;
    }
    /* ULEN/PLEN 0 are outside RFC 1929 (1..255) but harmless: they just
     * never match a valid configuration. */
    int ok = pt_proxy_cred_check(s->auth, pt_cbs_data(&user), pt_cbs_len(&user), pt_cbs_data(&pass),
                                 pt_cbs_len(&pass));
    drop_message(s);
    pt_cbb_add_u8(ob, AUTH_VER);
    if (!ok) {
        /* RFC 1929 §2: a non-zero status, then the server MUST close. This
         * is a listener on loopback, not the tunnel server, so there is no
         * active prober to hide from (no DECOY, STYLE §6). */
        pt_cbb_add_u8(ob, AUTH_FAIL);
        return fail(s, "auth: bad credentials");
    }
    pt_cbb_add_u8(ob, AUTH_OK);
    set_state(s, PT_SOCKS5_REQUEST);
    return PT_ERR_OK;
}

static int request_fail(pt_socks5 *s, pt_cbb *ob, uint8_t rep, const char *why)
{
    drop_message(s);
    (void)put_reply(ob, rep, NULL); /* fits: out_cap >= PT_SOCKS5_OUT_MAX */
    return fail(s, why);
}

/* RFC 1928 §4: VER CMD RSV ATYP DST.ADDR DST.PORT. */
static int do_request(pt_socks5 *s, pt_cbb *ob, size_t *need)
{
    pt_cbs c, addr;
    uint8_t ver, cmd, rsv, atyp, dlen;
    size_t total;

    pt_cbs_init(&c, s->buf, s->buf_len);
    if (!pt_cbs_get_u8(&c, &ver)) {
        *need = 1;
        return PT_ERR_AGAIN;
    }
    if (ver != SOCKS5_VER) {
        return request_fail(s, ob, PT_SOCKS5_REP_GENERAL_FAILURE, "request: version is not 5");
    }
    if (!pt_cbs_get_u8(&c, &cmd)) {
        *need = 2;
        return PT_ERR_AGAIN;
    }
    if (cmd != PT_SOCKS5_CMD_CONNECT) {
        /* BIND and UDP ASSOCIATE would need a listening socket or a
         * datagram relay at the far end; the tunnel carries streams only. */
        return request_fail(s, ob, PT_SOCKS5_REP_COMMAND_NOT_SUPPORTED,
                            cmd == PT_SOCKS5_CMD_BIND ? "request: BIND not supported"
                            : cmd == PT_SOCKS5_CMD_UDP_ASSOCIATE
                                ? "request: UDP ASSOCIATE not supported"
                                : "request: unknown command");
    }
    if (!pt_cbs_get_u8(&c, &rsv)) {
        *need = 3;
        return PT_ERR_AGAIN;
    }
    if (rsv != 0x00) {
        return request_fail(s, ob, PT_SOCKS5_REP_GENERAL_FAILURE, "request: RSV is not 0");
    }
    addr = c; /* ATYP DST.ADDR DST.PORT: exactly a pt_addr encoding */
    if (!pt_cbs_get_u8(&c, &atyp)) {
        *need = 4;
        return PT_ERR_AGAIN;
    }
    switch (atyp) {
    case PT_ADDR_IPV4:
        total = 4 + 4 + 2;
        break;
    case PT_ADDR_IPV6:
        total = 4 + 16 + 2;
        break;
    case PT_ADDR_DOMAIN:
        if (!pt_cbs_get_u8(&c, &dlen)) {
            *need = 5;
            return PT_ERR_AGAIN;
        }
        total = 4 + 1 + (size_t)dlen + 2;
        break;
    default:
        return request_fail(s, ob, PT_SOCKS5_REP_ADDRESS_NOT_SUPPORTED,
                            "request: unknown address type");
    }
    if (s->buf_len < total) {
        *need = total;
        return PT_ERR_AGAIN;
    }
    /* s->buf holds exactly |total| bytes, so |addr| is exactly the address;
     * pt_addr_decode applies the same domain rules as STREAM_OPEN (§7.2). */
    if (pt_addr_decode(&s->target, &addr) != PT_ERR_OK) {
        return request_fail(s, ob, PT_SOCKS5_REP_GENERAL_FAILURE,
                            "request: empty domain or byte outside 0x21..0x7e");
    }
    drop_message(s);
    set_state(s, PT_SOCKS5_CONNECTING);
    return PT_ERR_OK;
}

int pt_socks5_consume(pt_socks5 *s, uint8_t *out, size_t out_cap, size_t *out_len, size_t *consumed,
                      const uint8_t *in, size_t in_len)
{
    pt_cbs inc;
    pt_cbb ob;
    int rc = PT_ERR_AGAIN;

    *out_len = 0;
    *consumed = 0;
    if (s->state != PT_SOCKS5_GREETING && s->state != PT_SOCKS5_AUTH &&
        s->state != PT_SOCKS5_REQUEST) {
        return PT_ERR_STATE;
    }
    if (out_cap < PT_SOCKS5_OUT_MAX) {
        return PT_ERR_NOBUFS;
    }
    pt_cbs_init(&inc, in, in_len);
    pt_cbb_init(&ob, out, out_cap);

    for (;;) {
        size_t need = 0;
        switch (s->state) {
        case PT_SOCKS5_GREETING:
            rc = do_greeting(s, &ob, &need);
            break;
        case PT_SOCKS5_AUTH:
            rc = do_auth(s, &ob, &need);
            break;
        case PT_SOCKS5_REQUEST:
            rc = do_request(s, &ob, &need);
            break;
        default:
            assert(0 && "pt_socks5: unreachable state");
            rc = PT_ERR_STATE;
            break;
        }
        if (rc == PT_ERR_AGAIN) {
            /* Our own invariant, not the peer's: need is always more than
             * we hold and never more than the largest message. */
            assert(need > s->buf_len && need <= sizeof(s->buf));
            size_t take = need - s->buf_len;
            if (take > pt_cbs_len(&inc)) {
                take = pt_cbs_len(&inc);
            }
            if (take == 0) {
                break;
            }
            (void)pt_cbs_copy_bytes(&inc, s->buf + s->buf_len, take);
            s->buf_len += take;
            continue;
        }
        if (rc == PT_ERR_OK && s->state != PT_SOCKS5_CONNECTING) {
            continue; /* next message, possibly pipelined in the same read */
        }
        break; /* OK in CONNECTING, or PROTO */
    }
    *out_len = ob.len;
    *consumed = in_len - pt_cbs_len(&inc);
    return rc;
}

const pt_addr *pt_socks5_target(const pt_socks5 *s)
{
    if (s->state != PT_SOCKS5_CONNECTING && s->state != PT_SOCKS5_ESTABLISHED &&
        !(s->state == PT_SOCKS5_FAILED && s->target.type != 0)) {
        return NULL;
    }
    return &s->target;
}

const char *pt_socks5_fail_reason(const pt_socks5 *s)
{
    return s->fail_reason;
}

int pt_socks5_reply_success(pt_socks5 *s, uint8_t *out, size_t out_cap, size_t *out_len,
                            const pt_addr *bound)
{
    pt_cbb b;
    *out_len = 0;
    if (s->state != PT_SOCKS5_CONNECTING) {
        return PT_ERR_STATE;
    }
    pt_cbb_init(&b, out, out_cap);
    int rc = put_reply(&b, PT_SOCKS5_REP_SUCCEEDED, bound);
    if (rc != PT_ERR_OK) {
        return rc;
    }
    *out_len = b.len;
    set_state(s, PT_SOCKS5_ESTABLISHED);
    return PT_ERR_OK;
}

int pt_socks5_reply_failure(pt_socks5 *s, uint8_t *out, size_t out_cap, size_t *out_len,
                            uint32_t wire_code)
{
    pt_cbb b;
    *out_len = 0;
    if (s->state != PT_SOCKS5_CONNECTING) {
        return PT_ERR_STATE;
    }
    pt_cbb_init(&b, out, out_cap);
    int rc = put_reply(&b, pt_socks5_rep_from_wire(wire_code), NULL);
    if (rc != PT_ERR_OK) {
        return rc;
    }
    *out_len = b.len;
    s->fail_reason = "connect: stream failed";
    set_state(s, PT_SOCKS5_FAILED);
    return PT_ERR_OK;
}

uint8_t pt_socks5_rep_from_wire(uint32_t wire_code)
{
    /* PROTOCOL.md §10.1: 0x0A-0x10 exist so the client can give back the
     * reply RFC 1928 defines. */
    switch (wire_code) {
    case PT_WIRE_CONNECTION_REFUSED:
        return PT_SOCKS5_REP_CONNECTION_REFUSED;
    case PT_WIRE_HOST_UNREACHABLE:
    case PT_WIRE_NAME_NOT_RESOLVED: /* no 04-like code for DNS in RFC 1928 */
        return PT_SOCKS5_REP_HOST_UNREACHABLE;
    case PT_WIRE_NETWORK_UNREACHABLE:
        return PT_SOCKS5_REP_NETWORK_UNREACHABLE;
    case PT_WIRE_CONNECT_TIMEOUT:
        return PT_SOCKS5_REP_TTL_EXPIRED;
    case PT_WIRE_NOT_ALLOWED:
        return PT_SOCKS5_REP_NOT_ALLOWED;
    case PT_WIRE_ADDRESS_NOT_SUPPORTED:
        return PT_SOCKS5_REP_ADDRESS_NOT_SUPPORTED;
    default:
        return PT_SOCKS5_REP_GENERAL_FAILURE;
    }
}
