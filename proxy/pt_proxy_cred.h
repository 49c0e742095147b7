/* pt_proxy_cred.h — the username/password a local proxy listener may require
 * (SOCKS5 RFC 1929 sub-negotiation, HTTP Proxy-Authorization: Basic), and
 * their constant-time check. Shared by pt_socks5 and pt_http_proxy so one
 * configured pair serves both listeners.
 */
#ifndef PT_PROXY_CRED_H
#define PT_PROXY_CRED_H

#include <stddef.h>
#include <stdint.h>

/* RFC 1929 carries each field with a one-byte length. */
#define PT_PROXY_CRED_MAX 255

typedef struct pt_proxy_cred {
    const uint8_t *user;
    size_t user_len; /* 1..PT_PROXY_CRED_MAX */
    const uint8_t *pass;
    size_t pass_len; /* 1..PT_PROXY_CRED_MAX */
} pt_proxy_cred;

/* pt_proxy_cred_valid returns 1 if both fields are 1..255 bytes long and
 * non-NULL (what a listener accepts as configuration), else 0. */
int pt_proxy_cred_valid(const pt_proxy_cred *want);

/* pt_proxy_cred_check compares a presented |user|/|pass| with |want| in
 * constant time: both sides are laid out as len(1) | field padded to 255,
 * twice, and the two 512-byte blocks are compared with sodium_memcmp, so
 * the time does not depend on where they differ nor on whether the user or
 * the password is wrong. A presented field longer than 255 bytes fails at
 * once (it reveals nothing about |want|). Returns 1 on a match, else 0.
 * Both stack copies are wiped before returning. */
int pt_proxy_cred_check(const pt_proxy_cred *want, const uint8_t *user, size_t user_len,
                        const uint8_t *pass, size_t pass_len);

#endif /* PT_PROXY_CRED_H */
