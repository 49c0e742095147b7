/* pt_addr.h — the target address of STREAM_OPEN (PROTOCOL.md §7.2), in the
 * encoding SOCKS5 uses (RFC 1928 §4): ATYP, address, 2-byte port. */
#ifndef PT_CORE_ADDR_H
#define PT_CORE_ADDR_H

#include <stddef.h>
#include <stdint.h>

#include "pt_cbs.h"

#define PT_ADDR_IPV4 0x01
#define PT_ADDR_DOMAIN 0x03
#define PT_ADDR_IPV6 0x04
#define PT_ADDR_DOMAIN_MAX 255
#define PT_ADDR_MAX_ENCODED (1 + 1 + PT_ADDR_DOMAIN_MAX + 2) /* 259 */

typedef struct pt_addr {
    uint8_t type; /* PT_ADDR_IPV4 / _DOMAIN / _IPV6 */
    uint8_t domain_len;
    uint16_t port;
    union {
        uint8_t ipv4[4];
        uint8_t ipv6[16];
        char domain[PT_ADDR_DOMAIN_MAX + 1]; /* NUL-terminated copy */
    } u;
} pt_addr;

/* pt_addr_decode parses one address that must fill |c| exactly.
 * Returns PT_ERR_OK; PT_ERR_NOTFOUND for an unknown address type (the
 * stream is refused with ADDRESS_NOT_SUPPORTED); PT_ERR_PROTO for a
 * truncated or trailing-byte encoding, an empty domain, or a domain byte
 * outside 0x21..0x7e. */
int pt_addr_decode(pt_addr *a, pt_cbs *c);

/* pt_addr_encode appends |a| to |b|; returns PT_ERR_OK, PT_ERR_INVAL (bad
 * type or domain) or PT_ERR_NOBUFS. */
int pt_addr_encode(pt_cbb *b, const pt_addr *a);

/* pt_addr_set_domain fills |a| from a host name; PT_ERR_INVAL if it is
 * empty, longer than 255 bytes or has a byte outside 0x21..0x7e. */
int pt_addr_set_domain(pt_addr *a, const char *host, uint16_t port);

/* pt_addr_format writes "1.2.3.4:80", "[::1]:443" or "example.com:443". */
void pt_addr_format(const pt_addr *a, char *out, size_t cap);

#endif /* PT_CORE_ADDR_H */
