/* pt_keyfile.h — reading private key files safely. */
#ifndef PT_APP_KEYFILE_H
#define PT_APP_KEYFILE_H

#include <stddef.h>
#include <stdint.h>

/* pt_keyfile_read reads one base64 private key from |path|. The file must
 * be a regular file not readable or writable by group or others (0600 or
 * stricter), at most 1 KiB. On failure returns a PT_ERR_* value and writes a
 * one-line reason naming the file into |err| (never the key material). */
int pt_keyfile_read(uint8_t key[32], const char *path, char *err, size_t err_cap);

#endif
