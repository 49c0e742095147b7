/* pt_key.c — base64 keys via libsodium's constant-time codec. */
#include "pt_key.h"

#include <sodium.h>
#include <string.h>

#include "pt_err.h"

void pt_key_to_base64(char out[PT_KEY_B64_LEN + 1], const uint8_t key[PT_KEY_LEN])
{
    sodium_bin2base64(out, PT_KEY_B64_LEN + 1, key, PT_KEY_LEN, sodium_base64_VARIANT_ORIGINAL);
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

int pt_key_from_base64(uint8_t key[PT_KEY_LEN], const char *s, size_t len)
{
    while (len && is_space(s[0])) {
        s++;
        len--;
    }
    while (len && is_space(s[len - 1])) {
        len--;
    }
    if (len != PT_KEY_B64_LEN) {
        return PT_ERR_INVAL;
    }
    /* libsodium 1.0.18's decoder takes bytes 0x80-0xff as '/' (it reads
     * them as signed chars): check the alphabet ourselves first, so one key
     * has exactly one spelling and a stray byte is an error, not a new key. */
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        int ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                 ch == '+' || ch == '/' || (ch == '=' && i == len - 1);
        if (!ok) {
            return PT_ERR_INVAL;
        }
    }
    size_t bin_len = 0;
    const char *end = NULL;
    uint8_t tmp[PT_KEY_LEN + 2];
    /* sodium_base642bin rejects non-canonical trailing bits and bad
     * padding, and runs in constant time (keys are secrets). */
    int rc = sodium_base642bin(tmp, sizeof(tmp), s, len, NULL, &bin_len, &end,
                               sodium_base64_VARIANT_ORIGINAL);
    if (rc != 0 || bin_len != PT_KEY_LEN || end != s + len) {
        sodium_memzero(tmp, sizeof(tmp));
        return PT_ERR_INVAL;
    }
    memcpy(key, tmp, PT_KEY_LEN);
    sodium_memzero(tmp, sizeof(tmp));
    return PT_ERR_OK;
}
