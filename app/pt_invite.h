/* pt_invite.h — `phantom invite` and `phantom client --import`: from a
 * server's configuration to a client's, as a file or as one line.
 *
 * Pure functions: no files are read or written, nothing is printed. The
 * command reads the server file (pt_config_server_load), computes the
 * certificate's pin (pt_tls_spki_sha256_file) if it uses one, generates the
 * client's key pair if asked, calls pt_invite_create, and writes what it
 * returns.
 *
 * The import URI (docs/CONFIG.md, "Import URI"):
 *
 *   phantom://<server public key, base64url, 43 chars>@<host>[:<port>]
 *            [?sni=<name>][&verify=system|pin|none][&pin=<base64url>]...
 *            [&transport=tls][&key=<client private key, base64url>][#<name>]
 *
 * host is a DNS name, an IPv4 address or [IPv6]; port defaults to 443. A
 * URI with key= holds a secret: whoever has it can use the tunnel.
 */
#ifndef PT_APP_INVITE_H
#define PT_APP_INVITE_H

#include <stddef.h>
#include <stdint.h>

#include "pt_config.h"

#define PT_INVITE_URI_MAX 2048 /* bytes, a limit of the parser */
#define PT_INVITE_TEXT_MAX 16384

typedef struct pt_invite_request {
    const pt_config_server *server; /* required */
    /* The server's public key; NULL: derived from server->private_key
     * (which then must be loaded). */
    const uint8_t *server_public_key;
    /* SHA-256 of the SubjectPublicKeyInfo of the server's certificate
     * (pt_tls_spki_sha256_file of server->certificate), or NULL if there is
     * no certificate yet. */
    const uint8_t *pin;
    /* Command-line choices, each NULL for the default:
     *  endpoint     "host[:port]"; default: Hostname (else the first Listen
     *               address if it is not a wildcard) and the first Listen port
     *  server_name  SNI; default: Hostname if set, else the endpoint host
     *  verify       "system" | "pin" | "none"; default: pin for a SelfSigned
     *               server, else system
     *  name         the client's Name (also written in the server stanza) */
    const char *endpoint;
    const char *server_name;
    const char *verify;
    const char *name;
    /* Either the client's private key (invite generated it: it goes into the
     * client file and the URI) or, when that is NULL, its public key (the
     * client made its own key: the file says PrivateKeyFile = key_file). */
    const uint8_t *client_private_key;
    const uint8_t *client_public_key;
    const char *client_key_file; /* NULL: "client.key" */
} pt_invite_request;

typedef struct pt_invite {
    char *client_conf;   /* a complete client file (secret if it holds the key) */
    char *uri;           /* one line, no newline */
    char *server_stanza; /* "\n[Client]\nName = ...\nPublicKey = ...\n", to append */
} pt_invite;

/* pt_invite_create fills |out| (release with pt_invite_cleanup). Errors:
 * PT_ERR_CONFIG with a one-line message in |err| (a bad endpoint, no
 * endpoint known, a pin that is needed but missing, a client key or Name
 * already in the server file, ...), PT_ERR_INVAL for a request without
 * keys, PT_ERR_NOMEM. |out| is zeroed on error. */
int pt_invite_create(pt_invite *out, const pt_invite_request *req, char *err, size_t err_cap);

/* pt_invite_cleanup wipes and frees the three strings. */
void pt_invite_cleanup(pt_invite *inv);

/* pt_invite_client_conf_text renders |c| as a client file that parses back
 * to the same configuration. Sets |*out| (free with pt_invite_free_text).
 * PT_ERR_INVAL if a value cannot be written in the file syntax (a value
 * with " #", a path too long for one line), PT_ERR_NOMEM. */
int pt_invite_client_conf_text(char **out, const pt_config_client *c);

/* pt_invite_uri_format renders |c| as an import URI (with key= if |c| holds
 * its private key). Same errors; free with pt_invite_free_text. */
int pt_invite_uri_format(char **out, const pt_config_client *c);

/* pt_invite_free_text wipes and frees a string from this module. */
void pt_invite_free_text(char *s);

/* pt_invite_uri_parse parses an import URI (surrounding whitespace is
 * ignored) into a validated client configuration with the file defaults.
 * Without key=, the configuration says PrivateKeyFile = |key_file| (NULL:
 * "client.key"), not read. Strict: an unknown or repeated parameter, a path,
 * percent-encoding outside the fragment, a bad key or pin are errors.
 * Returns PT_ERR_OK and sets |*out| (pt_config_client_free), or
 * PT_ERR_CONFIG with "invalid import URI: <why>" in |err| (never the key),
 * or PT_ERR_NOMEM. */
int pt_invite_uri_parse(pt_config_client **out, const char *uri, const char *key_file, char *err,
                        size_t err_cap);

#endif /* PT_APP_INVITE_H */
