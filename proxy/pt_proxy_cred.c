/* pt_proxy_cred.c — constant-time proxy credential check; see pt_proxy_cred.h. */
#include "pt_proxy_cred.h"

#include <string.h>

#include <sodium.h>

#define BLOCK_LEN (2 * (1 + PT_PROXY_CRED_MAX)) /* 512 */

int pt_proxy_cred_valid(const pt_proxy_cred *want)
{
    return want != NULL && want->user != NULL && want->pass != NULL && want->user_len >= 1 &&
           want->user_len <= PT_PROXY_CRED_MAX && want->pass_len >= 1 &&
           want->pass_len <= PT_PROXY_CRED_MAX;
}

/* Lays out len(1) | user | zeros to 255 | len(1) | pass | zeros to 255. The
 * length byte is part of the compared block, so "ab" never equals "ab\0". */
static void layout(uint8_t blk[BLOCK_LEN], const uint8_t *user, size_t user_len,
                   const uint8_t *pass, size_t pass_len)
{
    memset(blk, 0, BLOCK_LEN);
    blk[0] = (uint8_t)user_len;
    if (user_len) {
        memcpy(blk + 1, user, user_len);
    }
    blk[1 + PT_PROXY_CRED_MAX] = (uint8_t)pass_len;
    if (pass_len) {
        memcpy(blk + 2 + PT_PROXY_CRED_MAX, pass, pass_len);
    }
}

int pt_proxy_cred_check(const pt_proxy_cred *want, const uint8_t *user, size_t user_len,
                        const uint8_t *pass, size_t pass_len)
{
    uint8_t got[BLOCK_LEN];
    uint8_t exp[BLOCK_LEN];
    int ok = 0;

    if (!pt_proxy_cred_valid(want) || user_len > PT_PROXY_CRED_MAX ||
        pass_len > PT_PROXY_CRED_MAX || (user_len && !user) || (pass_len && !pass)) {
        return 0;
    }
    layout(got, user, user_len, pass, pass_len);
    layout(exp, want->user, want->user_len, want->pass, want->pass_len);
    ok = sodium_memcmp(got, exp, BLOCK_LEN) == 0;
    sodium_memzero(got, sizeof(got));
    sodium_memzero(exp, sizeof(exp));
    return ok;
}
