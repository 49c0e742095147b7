/* testutil.h — helpers shared by the tests: hex, files, JSON vectors. */
#ifndef PT_TESTS_TESTUTIL_H
#define PT_TESTS_TESTUTIL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* tu_hex_decode decodes |hex| into |out| (capacity |cap|); returns the byte
 * count, or -1 on bad hex or overflow. */
long tu_hex_decode(uint8_t *out, size_t cap, const char *hex);

/* tu_hex_encode writes 2*len+1 chars (NUL-terminated) to |out|. */
void tu_hex_encode(char *out, const uint8_t *p, size_t len);

/* tu_source_path / tu_shared_path build a path below the project root or
 * ../shared (from PT_SOURCE_DIR / PT_SHARED_DIR set by ctest, else the
 * current directory's guesses). Returns |out|. */
const char *tu_source_path(char *out, size_t cap, const char *rel);
const char *tu_shared_path(char *out, size_t cap, const char *rel);

/* tu_load_json loads a JSON file; NULL (with a message on stderr) if it
 * cannot. The caller owns the result (json_decref). */
json_t *tu_load_json(const char *path);

/* tu_json_hex decodes the hex string member |key| of |obj| into |out|;
 * returns its length or -1 if missing / invalid. */
long tu_json_hex(const json_t *obj, const char *key, uint8_t *out, size_t cap);

#endif
