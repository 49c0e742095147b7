/* pt_addr.c — STREAM_OPEN address codec; see pt_addr.h. */
#include "pt_addr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "pt_err.h"

/* Domain bytes: printable ASCII without space. Anything else (NUL, control
 * bytes, spaces) is never a host name a resolver should be handed. */
static int domain_ok(const uint8_t *p, size_t n)
{
    if (n == 0 || n > PT_ADDR_DOMAIN_MAX) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (p[i] < 0x21 || p[i] > 0x7e) {
            return 0;
        }
    }
    return 1;
}

int pt_addr_decode(pt_addr *a, pt_cbs *c)
{
    uint8_t type;
    pt_cbs dom;

    memset(a, 0, sizeof(*a));
    if (!pt_cbs_get_u8(c, &type)) {
        return PT_ERR_PROTO;
    }
    switch (type) {
    case PT_ADDR_IPV4:
        if (!pt_cbs_copy_bytes(c, a->u.ipv4, 4)) {
            return PT_ERR_PROTO;
        }
        break;
    case PT_ADDR_IPV6:
        if (!pt_cbs_copy_bytes(c, a->u.ipv6, 16)) {
            return PT_ERR_PROTO;
        }
        break;
    case PT_ADDR_DOMAIN:
        if (!pt_cbs_get_u8_prefixed(c, &dom) || !domain_ok(pt_cbs_data(&dom), pt_cbs_len(&dom))) {
            return PT_ERR_PROTO;
        }
        a->domain_len = (uint8_t)pt_cbs_len(&dom);
        memcpy(a->u.domain, pt_cbs_data(&dom), a->domain_len);
        a->u.domain[a->domain_len] = 0;
        break;
    default:
        return PT_ERR_NOTFOUND;
    }
    if (!pt_cbs_get_u16(c, &a->port) || pt_cbs_len(c) != 0) {
        return PT_ERR_PROTO;
    }
    a->type = type;
    return PT_ERR_OK;
}

int pt_addr_encode(pt_cbb *b, const pt_addr *a)
{
    switch (a->type) {
    case PT_ADDR_IPV4:
        pt_cbb_add_u8(b, a->type);
        pt_cbb_add_bytes(b, a->u.ipv4, 4);
        break;
    case PT_ADDR_IPV6:
        pt_cbb_add_u8(b, a->type);
        pt_cbb_add_bytes(b, a->u.ipv6, 16);
        break;
    case PT_ADDR_DOMAIN:
        if (!domain_ok((const uint8_t *)a->u.domain, a->domain_len)) {
            return PT_ERR_INVAL;
        }
        pt_cbb_add_u8(b, a->type);
        pt_cbb_add_u8(b, a->domain_len);
        pt_cbb_add_bytes(b, (const uint8_t *)a->u.domain, a->domain_len);
        break;
    default:
        return PT_ERR_INVAL;
    }
    pt_cbb_add_u16(b, a->port);
    return pt_cbb_ok(b) ? PT_ERR_OK : PT_ERR_NOBUFS;
}

int pt_addr_set_domain(pt_addr *a, const char *host, uint16_t port)
{
    size_t n = strlen(host);
    memset(a, 0, sizeof(*a));
    if (!domain_ok((const uint8_t *)host, n)) {
        return PT_ERR_INVAL;
    }
    a->type = PT_ADDR_DOMAIN;
    a->domain_len = (uint8_t)n;
    memcpy(a->u.domain, host, n);
    a->port = port;
    return PT_ERR_OK;
}

void pt_addr_format(const pt_addr *a, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN];
    switch (a->type) {
    case PT_ADDR_IPV4:
        snprintf(out, cap, "%u.%u.%u.%u:%u", a->u.ipv4[0], a->u.ipv4[1], a->u.ipv4[2],
                 a->u.ipv4[3], a->port);
        break;
    case PT_ADDR_IPV6:
        /* inet_ntop gives the RFC 5952 text ("::1"); it only formats. */
        if (!inet_ntop(AF_INET6, a->u.ipv6, ip, sizeof(ip))) {
            snprintf(ip, sizeof(ip), "?");
        }
        snprintf(out, cap, "[%s]:%u", ip, a->port);
        break;
    case PT_ADDR_DOMAIN:
        snprintf(out, cap, "%s:%u", a->u.domain, a->port);
        break;
    default:
        snprintf(out, cap, "(invalid)");
        break;
    }
}
