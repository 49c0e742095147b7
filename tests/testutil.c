/* testutil.c — see testutil.h. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

long tu_hex_decode(uint8_t *out, size_t cap, const char *hex)
{
    size_t n = strlen(hex);
    if (n % 2 || n / 2 > cap) {
        return -1;
    }
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return -1;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return (long)(n / 2);
}

void tu_hex_encode(char *out, const uint8_t *p, size_t len)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = d[p[i] >> 4];
        out[2 * i + 1] = d[p[i] & 15];
    }
    out[2 * len] = 0;
}

static const char *join(char *out, size_t cap, const char *env, const char *dflt, const char *rel)
{
    const char *base = getenv(env);
    if (!base || !*base) {
        base = dflt;
    }
    snprintf(out, cap, "%s/%s", base, rel);
    return out;
}

const char *tu_source_path(char *out, size_t cap, const char *rel)
{
    return join(out, cap, "PT_SOURCE_DIR", ".", rel);
}

const char *tu_shared_path(char *out, size_t cap, const char *rel)
{
    return join(out, cap, "PT_SHARED_DIR", "../shared", rel);
}

json_t *tu_load_json(const char *path)
{
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    if (!j) {
        fprintf(stderr, "cannot load %s: %s (line %d)\n", path, err.text, err.line);
    }
    return j;
}

long tu_json_hex(const json_t *obj, const char *key, uint8_t *out, size_t cap)
{
    const json_t *v = json_object_get(obj, key);
    if (!v || !json_is_string(v)) {
        return -1;
    }
    return tu_hex_decode(out, cap, json_string_value(v));
}
