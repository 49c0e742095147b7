/* pt_decoy_site.c — embedded and directory sites; see pt_decoy_site.h. */
#include "pt_decoy_site.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pt_err.h"

struct pt_decoy_site {
    int builtin;
    char *root; /* realpath of the directory, no trailing slash */
    size_t root_len;
};

static const pt_decoy_site g_builtin = {1, NULL, 0};

const pt_decoy_site *pt_decoy_site_builtin(void)
{
    return &g_builtin;
}

int pt_decoy_site_dir_new(pt_decoy_site **out, const char *root)
{
    *out = NULL;
    char *real = realpath(root, NULL);
    if (!real) {
        return errno == ENOMEM ? PT_ERR_NOMEM : PT_ERR_CONFIG;
    }
    struct stat st;
    if (stat(real, &st) != 0 || !S_ISDIR(st.st_mode) || access(real, R_OK | X_OK) != 0) {
        free(real);
        return PT_ERR_CONFIG;
    }
    pt_decoy_site *s = calloc(1, sizeof(*s));
    if (!s) {
        free(real);
        return PT_ERR_NOMEM;
    }
    s->root = real;
    s->root_len = strlen(real);
    if (s->root_len == 1) { /* "/" */
        s->root_len = 0;
    }
    *out = s;
    return PT_ERR_OK;
}

void pt_decoy_site_free(pt_decoy_site *s)
{
    if (!s || s->builtin) {
        return;
    }
    free(s->root);
    free(s);
}

void pt_decoy_file_release(pt_decoy_file *f)
{
    free(f->owned);
    memset(f, 0, sizeof(*f));
}

static pt_decoy_lookup builtin_lookup(const char *path, size_t len, pt_decoy_file *f)
{
    int is_dir_path = len > 0 && path[len - 1] == '/';
    for (size_t i = 0; i < pt_decoy_embedded_count; i++) {
        const pt_decoy_embedded *e = &pt_decoy_embedded_files[i];
        size_t elen = strlen(e->path);
        if (!is_dir_path && elen == len && memcmp(e->path, path, len) == 0) {
            f->data = e->data;
            f->len = e->len;
            f->mtime = e->mtime;
            f->owned = NULL;
            return PT_DECOY_FILE;
        }
        /* A directory: some file lives under "path/". */
        size_t plen = is_dir_path ? len : len + 1;
        if (elen > plen && memcmp(e->path, path, len) == 0 && e->path[plen - 1] == '/') {
            return PT_DECOY_DIR;
        }
    }
    return PT_DECOY_NOTFOUND;
}

static pt_decoy_lookup dir_lookup(const pt_decoy_site *s, const char *path, size_t len,
                                  pt_decoy_file *f)
{
    /* root + path, then the real path must stay under the root: this is
     * what stops symlinks pointing out (nginx would follow them; a decoy
     * must never serve the host's files). */
    if (s->root_len + len + 1 > PATH_MAX) {
        return PT_DECOY_NOTFOUND;
    }
    char full[PATH_MAX];
    memcpy(full, s->root, s->root_len);
    memcpy(full + s->root_len, path, len);
    full[s->root_len + len] = '\0';
    char *real = realpath(full, NULL);
    if (!real) {
        return PT_DECOY_NOTFOUND;
    }
    size_t rlen = strlen(real);
    int inside =
        (rlen == s->root_len && memcmp(real, s->root, rlen) == 0) ||
        (rlen > s->root_len && memcmp(real, s->root, s->root_len) == 0 && real[s->root_len] == '/');
    if (s->root_len == 0) {
        inside = 1;
    }
    if (!inside) {
        free(real);
        return PT_DECOY_NOTFOUND;
    }
    int fd = open(real, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    free(real);
    if (fd < 0) {
        return PT_DECOY_NOTFOUND;
    }
    struct stat st;
    pt_decoy_lookup res = PT_DECOY_NOTFOUND;
    if (fstat(fd, &st) != 0) {
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        res = PT_DECOY_DIR;
        goto out;
    }
    if (!S_ISREG(st.st_mode) || len == 0 || path[len - 1] == '/' ||
        (uint64_t)st.st_size > PT_DECOY_FILE_MAX) {
        goto out;
    }
    size_t size = (size_t)st.st_size;
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) {
        goto out;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    if (got != size) {
        free(buf);
        goto out;
    }
    f->data = buf;
    f->len = size;
    f->mtime = (int64_t)st.st_mtime;
    f->owned = buf;
    res = PT_DECOY_FILE;
out:
    close(fd);
    return res;
}

pt_decoy_lookup pt_decoy_site_lookup(const pt_decoy_site *s, const char *path, size_t path_len,
                                     pt_decoy_file *f)
{
    memset(f, 0, sizeof(*f));
    if (path_len == 0 || path[0] != '/' || memchr(path, '\0', path_len)) {
        return PT_DECOY_NOTFOUND;
    }
    if (path_len == 1) {
        return PT_DECOY_DIR;
    }
    return s->builtin ? builtin_lookup(path, path_len, f) : dir_lookup(s, path, path_len, f);
}

/* Debian 12 /etc/nginx/mime.types (the common part of it). */
static const struct {
    const char *ext, *type;
} kMime[] = {
    {"html", "text/html"},
    {"htm", "text/html"},
    {"shtml", "text/html"},
    {"css", "text/css"},
    {"xml", "text/xml"},
    {"gif", "image/gif"},
    {"jpeg", "image/jpeg"},
    {"jpg", "image/jpeg"},
    {"js", "application/javascript"},
    {"atom", "application/atom+xml"},
    {"rss", "application/rss+xml"},
    {"txt", "text/plain"},
    {"png", "image/png"},
    {"svg", "image/svg+xml"},
    {"svgz", "image/svg+xml"},
    {"webp", "image/webp"},
    {"ico", "image/x-icon"},
    {"bmp", "image/x-ms-bmp"},
    {"tif", "image/tiff"},
    {"tiff", "image/tiff"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"json", "application/json"},
    {"pdf", "application/pdf"},
    {"zip", "application/zip"},
    {"mp4", "video/mp4"},
    {"webm", "video/webm"},
    {"mp3", "audio/mpeg"},
    {"ogg", "audio/ogg"},
    {"wasm", "application/wasm"},
    {"avif", "image/avif"},
    {"mjs", "application/javascript"},
    {"csv", "text/csv"},
    {"md", "application/octet-stream"},
};

const char *pt_decoy_mime_type(const char *path, size_t path_len)
{
    size_t i = path_len;
    while (i > 0 && path[i - 1] != '.' && path[i - 1] != '/') {
        i--;
    }
    if (i == 0 || path[i - 1] != '.') {
        return "application/octet-stream";
    }
    const char *ext = path + i;
    size_t elen = path_len - i;
    for (size_t k = 0; k < sizeof(kMime) / sizeof(kMime[0]); k++) {
        if (strlen(kMime[k].ext) == elen && strncasecmp(kMime[k].ext, ext, elen) == 0) {
            return kMime[k].type;
        }
    }
    return "application/octet-stream";
}
