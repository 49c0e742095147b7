/* pt_key.h — text form of X25519 keys: standard base64 with padding, 44
 * characters, the form WireGuard users know (`wg genkey | wg pubkey`). */
#ifndef PT_CORE_KEY_H
#define PT_CORE_KEY_H

#include <stddef.h>
#include <stdint.h>

#define PT_KEY_LEN 32
#define PT_KEY_B64_LEN 44 /* without the NUL */

/* pt_key_to_base64 writes 44 characters and a NUL into |out|. */
void pt_key_to_base64(char out[PT_KEY_B64_LEN + 1], const uint8_t key[PT_KEY_LEN]);

/* pt_key_from_base64 decodes exactly one key from |s| (|len| bytes;
 * surrounding spaces, tabs, CR and LF are ignored). Returns PT_ERR_OK or
 * PT_ERR_INVAL (wrong length, bad character, non-canonical padding). */
int pt_key_from_base64(uint8_t key[PT_KEY_LEN], const char *s, size_t len);

#endif /* PT_CORE_KEY_H */
