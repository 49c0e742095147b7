/* pt_keyfile.c — see pt_keyfile.h. */
#include "pt_keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pt_err.h"
#include "pt_key.h"

int pt_keyfile_read(uint8_t key[32], const char *path, char *err, size_t err_cap)
{
    char buf[1024];
    size_t len = 0;
    int rc = PT_ERR_IO;

    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        snprintf(err, err_cap, "%s: cannot open key file: %s", path, strerror(errno));
        return PT_ERR_IO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, err_cap, "%s: not a regular file", path);
        goto out;
    }
    if (st.st_mode & 077) {
        /* Like ssh: a private key others can read is already compromised. */
        snprintf(err, err_cap, "%s: key file is accessible by others (mode %03o); run: chmod 600 %s",
                 path, (unsigned)(st.st_mode & 0777), path);
        rc = PT_ERR_CONFIG;
        goto out;
    }
    for (;;) {
        ssize_t n = read(fd, buf + len, sizeof(buf) - len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            snprintf(err, err_cap, "%s: read failed: %s", path, strerror(errno));
            goto out;
        }
        if (n == 0) {
            break;
        }
        len += (size_t)n;
        if (len == sizeof(buf)) {
            snprintf(err, err_cap, "%s: too large to be a key file", path);
            rc = PT_ERR_CONFIG;
            goto out;
        }
    }
    if (pt_key_from_base64(key, buf, len) != PT_ERR_OK) {
        snprintf(err, err_cap, "%s: not a key (expected 44 characters of base64, as written by "
                               "phantom genkey)", path);
        rc = PT_ERR_CONFIG;
        goto out;
    }
    rc = PT_ERR_OK;
out:
    sodium_memzero(buf, sizeof(buf));
    close(fd);
    return rc;
}
