/* pt_decoy_site.h — the files the decoy web server serves: the small site
 * embedded in the binary at build time (obfs/site/, turned into a C array by
 * obfs/embed_site.cmake), or a directory on disk.
 *
 * Lookups take a path that the HTTP engine has already decoded and
 * normalised the way nginx does (absolute, no "." or ".." segments, no NUL):
 * the site does not parse URIs. A directory site additionally refuses
 * anything whose real path (symlinks resolved) leaves the root.
 *
 * No I/O besides the directory site's open/read of the file asked for; no
 * clock (modification times come from the embedded table or from stat).
 */
#ifndef PT_OBFS_DECOY_SITE_H
#define PT_OBFS_DECOY_SITE_H

#include <stddef.h>
#include <stdint.h>

typedef struct pt_decoy_site pt_decoy_site;

typedef enum pt_decoy_lookup {
    PT_DECOY_FILE = 0,     /* a regular file: |f| is filled */
    PT_DECOY_DIR = 1,      /* a directory */
    PT_DECOY_NOTFOUND = 2, /* nothing there (or outside the root) */
} pt_decoy_lookup;

/* One file's bytes and metadata. |data| stays valid until
 * pt_decoy_file_release (embedded files: forever). */
typedef struct pt_decoy_file {
    const uint8_t *data;
    size_t len;
    int64_t mtime; /* Unix seconds */
    void *owned;   /* heap copy of a directory file, or NULL */
} pt_decoy_file;

/* Largest file a directory site serves (bigger ones are "not found": the
 * decoy keeps whole responses in memory). */
#define PT_DECOY_FILE_MAX (16u << 20)

/* pt_decoy_site_builtin returns the embedded site (static; never freed). */
const pt_decoy_site *pt_decoy_site_builtin(void);

/* pt_decoy_site_dir_new opens |root| as a site. Returns PT_ERR_OK and sets
 * |*out|, PT_ERR_CONFIG (not a readable directory) or PT_ERR_NOMEM. */
int pt_decoy_site_dir_new(pt_decoy_site **out, const char *root);

/* pt_decoy_site_free frees a directory site; NULL and the builtin site are
 * ignored. */
void pt_decoy_site_free(pt_decoy_site *s);

/* pt_decoy_site_lookup looks |path| (normalised, starting with '/',
 * |path_len| bytes, no NUL inside) up. A path ending in '/' names a
 * directory. Returns a pt_decoy_lookup value; on PT_DECOY_FILE the caller
 * must pt_decoy_file_release(|f|). */
pt_decoy_lookup pt_decoy_site_lookup(const pt_decoy_site *s, const char *path, size_t path_len,
                                     pt_decoy_file *f);

void pt_decoy_file_release(pt_decoy_file *f);

/* pt_decoy_mime_type returns the Content-Type nginx's Debian mime.types
 * gives a path's extension (lower-cased match, as nginx), or
 * "application/octet-stream" (default_type). Never NULL. */
const char *pt_decoy_mime_type(const char *path, size_t path_len);

/* ---- embedded table (generated) ---- */
typedef struct pt_decoy_embedded {
    const char *path; /* "/index.html" */
    const uint8_t *data;
    size_t len;
    int64_t mtime;
} pt_decoy_embedded;

extern const pt_decoy_embedded pt_decoy_embedded_files[];
extern const size_t pt_decoy_embedded_count;

#endif /* PT_OBFS_DECOY_SITE_H */
