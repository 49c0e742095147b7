/* pt_config.h — the configuration files of `phantom server -c server.conf`
 * and `phantom client -c client.conf` (docs/CONFIG.md is the user's
 * reference: every key, default, range and example).
 *
 * INI, as WireGuard users know it. In a server file, [Server] is this
 * machine and each [Client] section is one authorized client (WireGuard's
 * [Peer]); in a client file, [Client] is this machine and [Server] is the one
 * server. Keys and section names are case-insensitive, values are trimmed,
 * `#` and `;` start a comment at the start of a line or after whitespace.
 * Unknown keys and sections, repeated single-valued keys, lines longer than
 * 4096 bytes and files larger than 1 MiB are errors: a typo is never silent.
 *
 * Errors: every function here returns PT_ERR_OK or a negative PT_ERR_*
 * value (PT_ERR_CONFIG for anything in the file, PT_ERR_IO for a file that
 * cannot be read, PT_ERR_NOMEM) and writes exactly one line, without a
 * newline, into the caller's |err| buffer:
 *
 *   server.conf:12: unknown key 'Listn' in [Server] (did you mean 'Listen'?)
 *   server.conf: missing 'PrivateKey' (or 'PrivateKeyFile') in [Server]
 *   --listen: '1.2.3.4:0' is not a valid address: port must be from 1 to 65535
 *
 * Nothing here prints or exits. Secret values (private keys, the SOCKS
 * password) are never copied into a message, and are wiped when a
 * configuration is freed.
 *
 * Relative paths in a file (PrivateKeyFile, Certificate, CertificateKey,
 * Decoy = directory:...) are relative to the directory of that file; relative
 * paths given as command-line overrides are relative to the current
 * directory, as for any command.
 */
#ifndef PT_APP_CONFIG_H
#define PT_APP_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "pt_addr.h"
#include "pt_frame.h"
#include "pt_key.h"

#define PT_CONFIG_MAX_FILE (1024 * 1024) /* bytes */
#define PT_CONFIG_MAX_LINE 4096          /* bytes, without the line ending */
#define PT_CONFIG_MAX_LISTEN 8
#define PT_CONFIG_MAX_PINS 4 /* = PT_TLS_MAX_PINS */
#define PT_CONFIG_PIN_LEN 32 /* SHA-256 of the SubjectPublicKeyInfo */
#define PT_CONFIG_NAME_MAX 64
#define PT_CONFIG_HOST_MAX 253
#define PT_CONFIG_PATH_MAX 4096      /* including the NUL */
#define PT_CONFIG_SOCKS_CRED_MAX 255 /* RFC 1929 */
#define PT_CONFIG_KEY_SLOTS_ 40      /* internal: number of known keys, rounded up */

/* Flags for the parse / load functions. PT_CONFIG_NO_KEYFILE: do not read
 * PrivateKeyFile, only record its path (has_private_key stays 0); for
 * fuzzing, checking and SIGHUP reloads. */
#define PT_CONFIG_NO_KEYFILE 0x1u

typedef enum pt_config_log_level {
    PT_CONFIG_LOG_ERROR = 0,
    PT_CONFIG_LOG_WARN,
    PT_CONFIG_LOG_INFO,
    PT_CONFIG_LOG_DEBUG,
} pt_config_log_level;

typedef enum pt_config_decoy {
    PT_CONFIG_DECOY_BUILTIN = 0, /* the built-in site (obfs/site) */
    PT_CONFIG_DECOY_DIRECTORY,   /* static files from decoy_directory */
    PT_CONFIG_DECOY_UPSTREAM,    /* reverse proxy to decoy_upstream (plain HTTP) */
} pt_config_decoy;

typedef enum pt_config_decoy_identity {
    PT_CONFIG_IDENTITY_NGINX = 0,
    PT_CONFIG_IDENTITY_APACHE,
} pt_config_decoy_identity;

/* Same order as pt_tls_verify_mode (transport/pt_tls.h). */
typedef enum pt_config_verify {
    PT_CONFIG_VERIFY_SYSTEM = 0,
    PT_CONFIG_VERIFY_PIN,
    PT_CONFIG_VERIFY_NONE,
} pt_config_verify;

typedef enum pt_config_transport {
    PT_CONFIG_TRANSPORT_TLS = 0, /* quic and websocket: later */
} pt_config_transport;

/* One [Client] section of a server file: a client allowed to connect. */
typedef struct pt_config_peer {
    char name[PT_CONFIG_NAME_MAX + 1]; /* Name, or the first 8 characters of
                                        * the public key's base64 */
    uint8_t public_key[PT_KEY_LEN];
    uint32_t max_streams; /* MaxStreams, else the server's MaxStreamsPerClient */
    unsigned line;        /* line of the [Client] header; 0 if not from a file */
} pt_config_peer;

/* A server file. Every field is set (defaults filled in) after a
 * successful parse. */
typedef struct pt_config_server {
    char source[PT_CONFIG_PATH_MAX]; /* the file name used in messages */

    /* PrivateKey or PrivateKeyFile (exactly one). has_private_key is 1 once
     * the key is known: always, unless PT_CONFIG_NO_KEYFILE left the file
     * unread. private_key_file is "" for an inline key. */
    int has_private_key;
    uint8_t private_key[PT_KEY_LEN];
    char private_key_file[PT_CONFIG_PATH_MAX];

    pt_addr listen[PT_CONFIG_MAX_LISTEN]; /* IP literals; default 0.0.0.0:443 */
    size_t n_listen;

    char certificate[PT_CONFIG_PATH_MAX];     /* PEM chain */
    char certificate_key[PT_CONFIG_PATH_MAX]; /* PEM key */
    int self_signed;                          /* create them at start if missing (default 0) */
    char hostname[PT_CONFIG_HOST_MAX + 1];    /* "" if not set; host name or IP */

    pt_config_decoy decoy;
    char decoy_directory[PT_CONFIG_PATH_MAX]; /* DECOY_DIRECTORY */
    pt_addr decoy_upstream;                   /* DECOY_UPSTREAM */
    pt_config_decoy_identity decoy_identity;
    /* DecoyUpstreamH2 (only with DECOY_UPSTREAM): where HTTP/2 (ALPN h2)
     * decoy connections are relayed, an h2c prior-knowledge listener
     * (nginx `listen ... http2`). Unset: the built-in engine answers h2. */
    int has_decoy_upstream_h2;
    pt_addr decoy_upstream_h2;

    int allow_private_targets;       /* default 0 */
    uint32_t connect_timeout;        /* seconds, 1..3600, default 10 */
    uint32_t handshake_timeout;      /* seconds, 1..3600, default 30 */
    uint32_t max_streams_per_client; /* 1..8388608, default 1024 */
    uint32_t max_clients;            /* concurrent sessions, 1..65535, default 256 */
    pt_pad_policy padding;           /* default RANDOM, block 64, min 64 */
    uint32_t cover_traffic;          /* seconds, 0..3600, default 0 = off */
    uint32_t jitter;                 /* ms, 0..1000, default 0 = off */
    pt_config_log_level log_level;   /* default INFO */

    pt_config_peer *peers; /* at least one; owned */
    size_t n_peers;

    /* Internal: where each key came from (line, flag), parse flags, the
     * file's directory. Do not use. */
    unsigned key_line_[PT_CONFIG_KEY_SLOTS_];
    unsigned flags_;
    char base_dir_[PT_CONFIG_PATH_MAX];
} pt_config_server;

/* A client file. */
typedef struct pt_config_client {
    char source[PT_CONFIG_PATH_MAX];

    /* [Client] */
    char name[PT_CONFIG_NAME_MAX + 1]; /* optional label, "" if none */
    int has_private_key;               /* as in pt_config_server */
    uint8_t private_key[PT_KEY_LEN];
    char private_key_file[PT_CONFIG_PATH_MAX];
    int socks_enabled; /* SocksListen, default 127.0.0.1:1080; "off" */
    pt_addr socks_listen;
    int http_enabled; /* HttpListen, default 127.0.0.1:8118; "off" */
    pt_addr http_listen;
    char socks_username[PT_CONFIG_SOCKS_CRED_MAX + 1]; /* "" if no auth */
    char socks_password[PT_CONFIG_SOCKS_CRED_MAX + 1]; /* secret */
    int allow_open_proxy;                              /* default 0 */
    int optimistic_connect;                            /* default 0 */
    pt_pad_policy padding;
    uint32_t cover_traffic; /* seconds, 0..3600, default 0 = off */
    uint32_t jitter;        /* ms, 0..1000, default 0 = off */
    pt_config_log_level log_level;
    uint32_t reconnect_max; /* seconds, 1..3600, default 60 */

    /* [Server] */
    uint8_t server_public_key[PT_KEY_LEN];
    pt_addr endpoint;                         /* host name or IP, port default 443 */
    char server_name[PT_CONFIG_HOST_MAX + 1]; /* SNI; default: the Endpoint
                                               * host. An IP literal means no
                                               * SNI is sent (as Chrome). */
    pt_config_verify verify;                  /* default PIN if a Pin is given, else SYSTEM */
    uint8_t pins[PT_CONFIG_MAX_PINS][PT_CONFIG_PIN_LEN];
    size_t n_pins;
    pt_config_transport transport;

    unsigned key_line_[PT_CONFIG_KEY_SLOTS_];
    unsigned flags_;
    char base_dir_[PT_CONFIG_PATH_MAX];
} pt_config_client;

/* ---- server files -------------------------------------------------------- */

/* pt_config_server_load reads and parses the server file at |path| (a
 * regular file of at most 1 MiB). A file holding an inline PrivateKey must
 * not be accessible by group or others. Unless PT_CONFIG_NO_KEYFILE is in
 * |flags|, PrivateKeyFile is read with pt_keyfile_read (mode 0600 or
 * stricter). Returns PT_ERR_OK and sets |*out| (free with
 * pt_config_server_free), else an error and a message in |err|. */
int pt_config_server_load(pt_config_server **out, const char *path, unsigned flags, char *err,
                          size_t err_cap);

/* pt_config_server_parse parses |len| bytes of |text| (no NUL needed) as a
 * server file. |name| is the file name for messages and the base of
 * relative paths ("server.conf": relative paths stay relative). Otherwise
 * as pt_config_server_load, without the file-mode check. */
int pt_config_server_parse(pt_config_server **out, const char *text, size_t len, const char *name,
                           unsigned flags, char *err, size_t err_cap);

/* pt_config_server_override applies one command-line option, with the same
 * checks as the file. |flag| is the option with or without its leading
 * "--": listen (may repeat: the first replaces the file's list), cert,
 * cert-key, self-signed, hostname, decoy, decoy-identity, decoy-upstream-h2,
 * private-key-file, allow-private-targets, connect-timeout,
 * handshake-timeout, max-clients, max-streams, padding, padding-block,
 * padding-min-size, cover-traffic, jitter, log-level.
 * PT_ERR_NOTFOUND for an unknown flag. On any error |cfg| is unchanged.
 * Call pt_config_server_validate after the last override: checks that
 * involve several keys run there. */
int pt_config_server_override(pt_config_server *cfg, const char *flag, const char *value, char *err,
                              size_t err_cap);

/* pt_config_server_validate checks what involves several keys and fills in
 * the defaults that depend on others (parse already did both). */
int pt_config_server_validate(pt_config_server *cfg, char *err, size_t err_cap);

/* pt_config_server_free wipes and frees |cfg| and its peers. NULL is fine. */
void pt_config_server_free(pt_config_server *cfg);

/* pt_config_server_reload_peers re-reads the server file at |path| for a
 * SIGHUP: the whole file is parsed and checked as at start (without reading
 * PrivateKeyFile), and only its [Client] list is returned: |*peers| (free()
 * it) and |*n_peers|. On any error nothing is returned, the caller keeps its
 * current list, and |err| says why. Changes to [Server] need a restart. */
int pt_config_server_reload_peers(pt_config_peer **peers, size_t *n_peers, const char *path,
                                  char *err, size_t err_cap);

/* pt_config_peer_find returns the peer with |public_key| or NULL. Compares
 * with sodium_memcmp. */
const pt_config_peer *pt_config_peer_find(const pt_config_peer *peers, size_t n_peers,
                                          const uint8_t public_key[PT_KEY_LEN]);

/* ---- client files -------------------------------------------------------- */

/* pt_config_client_load / _parse: as the server functions, for a client
 * file. */
int pt_config_client_load(pt_config_client **out, const char *path, unsigned flags, char *err,
                          size_t err_cap);
int pt_config_client_parse(pt_config_client **out, const char *text, size_t len, const char *name,
                           unsigned flags, char *err, size_t err_cap);

/* pt_config_client_new returns a client configuration holding only the
 * defaults (no keys, no endpoint: it does not validate until they are set),
 * or NULL. |name| is used in messages. */
pt_config_client *pt_config_client_new(const char *name);

/* pt_config_client_override: as the server function. Flags: socks, http
 * ("off" disables), endpoint, server-name, server-key (the server's public
 * key), verify, pin (may repeat: the first replaces the file's pins),
 * transport, private-key-file, padding, padding-block, padding-min-size,
 * cover-traffic, jitter, log-level, reconnect-max, allow-open-proxy,
 * optimistic-connect. */
int pt_config_client_override(pt_config_client *cfg, const char *flag, const char *value, char *err,
                              size_t err_cap);

/* pt_config_client_set sets the client-file key |key| ("ServerName") to
 * |value| with the file's checks; messages name the value |label| (NULL:
 * the key) and have no file prefix. Never reads key files. For pt_invite.c
 * and tests; PT_ERR_NOTFOUND for a key a client file does not have. */
int pt_config_client_set(pt_config_client *cfg, const char *key, const char *value,
                         const char *label, char *err, size_t err_cap);

/* pt_config_client_validate: as pt_config_server_validate. */
int pt_config_client_validate(pt_config_client *cfg, char *err, size_t err_cap);

/* pt_config_client_free wipes and frees |cfg|. NULL is fine. */
void pt_config_client_free(pt_config_client *cfg);

/* ---- helpers shared with pt_invite.c -------------------------------------- */

/* pt_config_parse_hostport parses "host:port", "1.2.3.4:port" or
 * "[v6]:port" into |a|. |allow_name|: a DNS name is accepted (else IP
 * literals only). |default_port|: used when the port is left out (0: the
 * port is required). On error returns PT_ERR_CONFIG and sets |*why| to a
 * static reason. */
int pt_config_parse_hostport(pt_addr *a, const char *s, int allow_name, uint16_t default_port,
                             const char **why);

/* pt_config_host_valid returns 1 if |s| is an IPv4 literal, an IPv6 literal
 * (without brackets) or a DNS host name (letters, digits, '-', labels of
 * 1..63, at most 253 bytes, the last label not all digits). */
int pt_config_host_valid(const char *s);

/* pt_config_name_valid returns 1 if |s| is a valid Name: 1..64 printable
 * ASCII characters other than space, '#' and ';'. */
int pt_config_name_valid(const char *s);

/* pt_config_addr_host writes the host part of |a| (no port, no brackets). */
void pt_config_addr_host(const pt_addr *a, char *out, size_t cap);

/* Names of enum values as written in files: "random", "pin", "info", ... */
const char *pt_config_padding_name(pt_pad_strategy s);
const char *pt_config_verify_name(pt_config_verify v);
const char *pt_config_log_level_name(pt_config_log_level l);

#endif /* PT_APP_CONFIG_H */
