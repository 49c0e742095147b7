/* pt_egress.c — see pt_egress.h. */
#include "pt_egress.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pt_err.h"
#include "pt_frame.h"
#include "pt_tcp.h"

struct pt_egress_req {
    uv_loop_t *loop;
    const pt_egress_policy *p;
    pt_egress_cb cb;
    void *arg;
    uint16_t port;
    int cancelled, done, any_forbidden;
    uv_getaddrinfo_t gai;
    int gai_pending;
    struct addrinfo *res, *next; /* what is left to try */
    uv_timer_t timer;
    int timer_closing;
    int connecting;              /* a pt_tcp_connect is in flight */
    pt_tcp_connecting *conn;     /* ... and its handle, to cancel it */
    uint32_t last_code;
};

/* ---- policy ----------------------------------------------------------------- */

void pt_egress_policy_default(pt_egress_policy *p)
{
    memset(p, 0, sizeof(*p));
    p->connect_timeout_ms = 10000;
    uv_interface_address_t *ifs = NULL;
    int n = 0;
    if (uv_interface_addresses(&ifs, &n) == 0) {
        for (int i = 0; i < n && p->n_local < sizeof(p->local) / sizeof(p->local[0]); i++) {
            memcpy(&p->local[p->n_local++], &ifs[i].address,
                   ifs[i].address.address4.sin_family == AF_INET ? sizeof(struct sockaddr_in)
                                                                  : sizeof(struct sockaddr_in6));
        }
        uv_free_interface_addresses(ifs, n);
    }
}

static int v4_forbidden(const uint8_t a[4])
{
    return a[0] == 0                                   /* 0.0.0.0/8 "this network" */
           || a[0] == 10                               /* RFC 1918 */
           || a[0] == 127                              /* loopback */
           || (a[0] == 100 && (a[1] & 0xc0) == 64)     /* 100.64/10 CGNAT */
           || (a[0] == 169 && a[1] == 254)             /* link-local */
           || (a[0] == 172 && (a[1] & 0xf0) == 16)     /* RFC 1918 */
           || (a[0] == 192 && a[1] == 168)             /* RFC 1918 */
           || (a[0] == 192 && a[1] == 0 && a[2] == 0)  /* IETF protocol assignments */
           || (a[0] == 192 && a[1] == 0 && a[2] == 2)  /* TEST-NET-1 */
           || (a[0] == 198 && (a[1] & 0xfe) == 18)     /* benchmarking */
           || (a[0] == 198 && a[1] == 51 && a[2] == 100) /* TEST-NET-2 */
           || (a[0] == 203 && a[1] == 0 && a[2] == 113)  /* TEST-NET-3 */
           || a[0] >= 224;                             /* multicast, reserved, broadcast */
}

static int v6_forbidden(const uint8_t a[16])
{
    static const uint8_t zero[16];
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(a, mapped, 12) == 0 || memcmp(a, zero, 12) == 0) {
        /* IPv4-mapped and IPv4-compatible (and :: and ::1): judge the IPv4 part,
         * plus :: and ::1 themselves. */
        if (memcmp(a, zero, 15) == 0 && (a[15] == 0 || a[15] == 1)) {
            return 1;
        }
        return v4_forbidden(a + 12);
    }
    return (a[0] & 0xfe) == 0xfc                  /* fc00::/7 unique local */
           || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) /* fe80::/10 link-local */
           || (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0) /* fec0::/10 site-local (deprecated) */
           || a[0] == 0xff                        /* multicast */
           || (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8) /* documentation */
           || (a[0] == 0x00 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b &&
               v4_forbidden(a + 12)); /* NAT64 to a forbidden IPv4 */
}

static int same_ip(const struct sockaddr *x, const struct sockaddr *y)
{
    if (x->sa_family != y->sa_family) {
        return 0;
    }
    if (x->sa_family == AF_INET) {
        return ((const struct sockaddr_in *)x)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)y)->sin_addr.s_addr;
    }
    return memcmp(&((const struct sockaddr_in6 *)x)->sin6_addr,
                  &((const struct sockaddr_in6 *)y)->sin6_addr, 16) == 0;
}

int pt_egress_addr_allowed(const pt_egress_policy *p, const struct sockaddr *sa)
{
    if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6) {
        return 0;
    }
    if (p->allow_private) {
        return 1;
    }
    if (sa->sa_family == AF_INET) {
        const uint8_t *a = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
        if (v4_forbidden(a)) {
            return 0;
        }
    } else if (v6_forbidden((const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr)) {
        return 0;
    }
    for (size_t i = 0; i < p->n_local; i++) {
        if (same_ip(sa, (const struct sockaddr *)&p->local[i])) {
            return 0;
        }
    }
    return 1;
}

uint32_t pt_egress_code_from_uv(int e)
{
    switch (e) {
    case UV_ECONNREFUSED:
        return PT_WIRE_CONNECTION_REFUSED;
    case UV_EHOSTUNREACH:
    case UV_EHOSTDOWN:
        return PT_WIRE_HOST_UNREACHABLE;
    case UV_ENETUNREACH:
    case UV_ENETDOWN:
        return PT_WIRE_NETWORK_UNREACHABLE;
    case UV_ETIMEDOUT:
        return PT_WIRE_CONNECT_TIMEOUT;
    case UV_EAI_NONAME:
    case UV_EAI_NODATA:
    case UV_EAI_FAIL:
    case UV_EAI_AGAIN:
    case UV_EAI_ADDRFAMILY:
        return PT_WIRE_NAME_NOT_RESOLVED;
    case UV_EACCES:
    case UV_EPERM:
        return PT_WIRE_NOT_ALLOWED;
    default:
        return PT_WIRE_CONNECT_ERROR;
    }
}

/* ---- the request ----------------------------------------------------------- */

static void try_next(pt_egress_req *r);

static void on_timer_closed(uv_handle_t *h)
{
    pt_egress_req *r = h->data;
    r->timer_closing = 0;
    if (!r->gai_pending && !r->connecting) {
        if (r->res) {
            uv_freeaddrinfo(r->res);
        }
        free(r);
    }
}

/* Free |r| once nothing of libuv refers to it any more. */
static void release(pt_egress_req *r)
{
    if (r->connecting && r->conn) {
        /* Timed out or cancelled mid-connect: close the socket now rather
         * than let the kernel retry SYNs for two minutes. on_connected comes
         * back with UV_ECANCELED and calls release again. */
        pt_tcp_connect_cancel(r->conn);
        r->conn = NULL;
        return;
    }
    if (r->timer_closing || r->gai_pending || r->connecting) {
        return;
    }
    if (!uv_is_closing((uv_handle_t *)&r->timer)) {
        r->timer_closing = 1;
        uv_close((uv_handle_t *)&r->timer, on_timer_closed);
    }
}

static void finish(pt_egress_req *r, pt_transport *t, uint32_t code)
{
    if (r->done) {
        if (t) {
            pt_transport_close(t, NULL);
        }
        return;
    }
    r->done = 1;
    uv_timer_stop(&r->timer);
    if (r->cancelled) {
        if (t) {
            pt_transport_close(t, NULL);
        }
    } else {
        pt_addr bound;
        memset(&bound, 0, sizeof(bound));
        bound.type = PT_ADDR_IPV4;
        if (t) {
            struct sockaddr_storage ss;
            int len = sizeof(ss);
            if (uv_tcp_getsockname(pt_tcp_handle(t), (struct sockaddr *)&ss, &len) == 0) {
                if (ss.ss_family == AF_INET) {
                    const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;
                    memcpy(bound.u.ipv4, &s4->sin_addr, 4);
                    bound.port = ntohs(s4->sin_port);
                } else if (ss.ss_family == AF_INET6) {
                    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
                    bound.type = PT_ADDR_IPV6;
                    memcpy(bound.u.ipv6, &s6->sin6_addr, 16);
                    bound.port = ntohs(s6->sin6_port);
                }
            }
        }
        r->cb(t, code, &bound, r->arg);
    }
    release(r);
}

static void on_timeout(uv_timer_t *h)
{
    pt_egress_req *r = h->data;
    finish(r, NULL, PT_WIRE_CONNECT_TIMEOUT);
}

static void on_connected(pt_transport *t, int status, void *arg)
{
    pt_egress_req *r = arg;
    r->connecting = 0;
    r->conn = NULL;
    if (r->done) {
        if (t) {
            pt_transport_close(t, NULL); /* too late: timed out or cancelled */
        }
        release(r);
        return;
    }
    if (status == 0) {
        finish(r, t, PT_WIRE_NO_ERROR);
        return;
    }
    r->last_code = pt_egress_code_from_uv(status);
    try_next(r);
}

static void connect_to(pt_egress_req *r, const struct sockaddr *sa)
{
    struct sockaddr_storage ss;
    memcpy(&ss, sa, sa->sa_family == AF_INET ? sizeof(struct sockaddr_in)
                                             : sizeof(struct sockaddr_in6));
    if (ss.ss_family == AF_INET) {
        ((struct sockaddr_in *)&ss)->sin_port = htons(r->port);
    } else {
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons(r->port);
    }
    int rc = pt_tcp_connect_ex(r->loop, (const struct sockaddr *)&ss, on_connected, r, &r->conn);
    if (rc != 0) {
        r->last_code = pt_egress_code_from_uv(rc);
        try_next(r);
        return;
    }
    r->connecting = 1;
}

/* Try the next allowed address, or finish with the best error we have. */
static void try_next(pt_egress_req *r)
{
    while (r->next) {
        struct addrinfo *ai = r->next;
        r->next = ai->ai_next;
        if (!pt_egress_addr_allowed(r->p, ai->ai_addr)) {
            r->any_forbidden = 1;
            continue;
        }
        connect_to(r, ai->ai_addr);
        return;
    }
    if (r->last_code == PT_WIRE_NO_ERROR) {
        /* Nothing was tried: every address was forbidden (or none came). */
        finish(r, NULL, r->any_forbidden ? PT_WIRE_NOT_ALLOWED : PT_WIRE_NAME_NOT_RESOLVED);
    } else {
        finish(r, NULL, r->last_code);
    }
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    pt_egress_req *r = req->data;
    r->gai_pending = 0;
    r->res = res;
    r->next = res;
    if (r->done) {
        release(r);
        return;
    }
    if (status != 0) {
        finish(r, NULL, status == UV_ECANCELED ? PT_WIRE_CONNECT_ERROR
                                               : pt_egress_code_from_uv(status));
        return;
    }
    try_next(r);
}

int pt_egress_connect(uv_loop_t *loop, const pt_egress_policy *p, const pt_addr *target,
                      pt_egress_cb cb, void *arg, pt_egress_req **out)
{
    pt_egress_req *r = calloc(1, sizeof(*r));
    if (!r) {
        return PT_ERR_NOMEM;
    }
    r->loop = loop;
    r->p = p;
    r->cb = cb;
    r->arg = arg;
    r->port = target->port;
    r->last_code = PT_WIRE_NO_ERROR;
    uv_timer_init(loop, &r->timer);
    r->timer.data = r;
    r->gai.data = r;

    /* Literal addresses go through getaddrinfo too (AI_NUMERICHOST: no DNS),
     * so the outcome always arrives from the loop, never from this call. */
    char host[INET6_ADDRSTRLEN];
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    if (target->type == PT_ADDR_IPV4 || target->type == PT_ADDR_IPV6) {
        int v4 = target->type == PT_ADDR_IPV4;
        inet_ntop(v4 ? AF_INET : AF_INET6, v4 ? (const void *)target->u.ipv4
                                              : (const void *)target->u.ipv6,
                  host, sizeof(host));
        hints.ai_family = v4 ? AF_INET : AF_INET6;
        hints.ai_flags = AI_NUMERICHOST;
    } else if (target->type == PT_ADDR_DOMAIN) {
        hints.ai_family = AF_UNSPEC;
        hints.ai_flags = AI_ADDRCONFIG;
    } else {
        free(r);
        return PT_ERR_INVAL;
    }
    int rc = uv_getaddrinfo(loop, &r->gai, on_resolved,
                            target->type == PT_ADDR_DOMAIN ? target->u.domain : host, NULL,
                            &hints);
    if (rc != 0) {
        r->done = 1;
        release(r);
        return PT_ERR_INVAL;
    }
    r->gai_pending = 1;
    uv_timer_start(&r->timer, on_timeout, p->connect_timeout_ms, 0);
    *out = r;
    return 0;
}

void pt_egress_cancel(pt_egress_req *r)
{
    if (r->done || r->cancelled) {
        return;
    }
    r->cancelled = 1;
    r->done = 1;
    uv_timer_stop(&r->timer);
    if (r->gai_pending) {
        uv_cancel((uv_req_t *)&r->gai); /* if it already runs, on_resolved frees */
    }
    release(r);
}
