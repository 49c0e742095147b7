/* pt_probe_keys.h — hex key files for the probe programs (test use only:
 * 64 hex digits and a newline; no permissions checks). */
#ifndef PT_TESTS_PROBE_KEYS_H
#define PT_TESTS_PROBE_KEYS_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static inline int probe_key_read(uint8_t key[32], const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        return -1;
    }
    char hex[80] = {0};
    size_t n = fread(hex, 1, sizeof(hex) - 1, f);
    fclose(f);
    if (n < 64) {
        return -1;
    }
    for (int i = 0; i < 32; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1) {
            return -1;
        }
        key[i] = (uint8_t)v;
    }
    return 0;
}

static inline int probe_key_write(const char *path, const uint8_t key[32])
{
    FILE *f = fopen(path, "w");
    if (!f) {
        return -1;
    }
    for (int i = 0; i < 32; i++) {
        fprintf(f, "%02x", key[i]);
    }
    fputc('\n', f);
    return fclose(f);
}

#endif
