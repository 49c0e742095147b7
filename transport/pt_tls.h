/* pt_tls.h — TLS (BoringSSL) as a pt_transport over another pt_transport.
 *
 * TLS wraps a lower transport (TCP in practice) and is itself a
 * pt_transport: the session above does not know it is there. BoringSSL is
 * driven entirely from libuv callbacks through an in-memory BIO: it never
 * sees a socket and never blocks. Ciphertext from the lower transport's
 * on_read is fed to SSL_do_handshake / SSL_read; what BoringSSL writes is
 * collected and handed to the lower transport in one write per flush.
 *
 * Client: a Chrome ClientHello, as exact as this BoringSSL can make it
 * (docs/FINGERPRINT.md says field by field which Chrome release and why):
 * GREASE, extension permutation, post-quantum hybrid key share, ALPN h2 +
 * http/1.1, ALPS, brotli certificate compression, OCSP and SCT requests,
 * ECH GREASE, session tickets, TLS 1.2-1.3. Certificates are checked against
 * the system roots and the host name, against a pinned SPKI hash, or not at
 * all. Sessions are resumed like a browser (cache per host, TLS 1.3 tickets
 * used once).
 *
 * Server: certificate chain and key from PEM files, TLS 1.2-1.3, ALPN chosen
 * as nginx does, session tickets (TLS 1.3: sent right after the client's
 * Finished, as OpenSSL does), optional brotli certificate compression, and
 * a raw fallback for first bytes that are not a TLS handshake (below).
 *
 * Contract, in addition to pt_transport.h:
 *  - The handshake starts when the transport is created. The handshake
 *    callback is called once: status 0 when the handshake is complete (for a
 *    TLS 1.2 client possibly at False Start, as Chrome does), or a negative
 *    error. On failure the error is then also delivered as on_eof(err),
 *    unless the owner closed the transport in the handshake callback.
 *  - write() may be called before the handshake completes: the data is queued
 *    (the buffers must stay valid until the callback, as always) and sent
 *    right after the client's Finished, in the same lower write.
 *  - Each write() call is one flush: its buffers are coalesced into TLS
 *    records of up to 16384 bytes of plaintext, and all ciphertext the call
 *    produced (plus any pending handshake bytes) goes to the lower transport
 *    in one write. A write() of at most 16384 bytes in total is therefore
 *    exactly one TLS record (PROTOCOL.md §5.3 relies on this). Its callback
 *    is called when the lower transport's write of that ciphertext completes.
 *  - on_read delivers exactly one TLS application-data record per call: the
 *    plaintext of one SSL_read, which never spans records. A server deciding
 *    on "the first record" (PROTOCOL.md §5.7) decides on the first on_read.
 *  - shutdown() sends close_notify after the queued writes, then shuts the
 *    lower transport down. Reading continues until the peer's close_notify.
 *  - on_eof(0) means the peer sent close_notify. A negative value is the
 *    lower transport's own error (UV_ECONNRESET, ...) or UV_EPROTO for any TLS
 *    failure: a bad record or message, an alert from the peer, a certificate
 *    that fails verification, or the lower stream ending without close_notify
 *    (truncation). pt_tls_error_string() says which.
 *  - read_stop() stops delivering plaintext and, once the handshake is done,
 *    stops reading the lower transport (back-pressure). Bytes already
 *    received stay buffered and are delivered after read_start(), on a later
 *    loop iteration (never from inside read_start()).
 *
 * Threads: a context and its connections belong to one thread (one loop).
 */
#ifndef PT_TRANSPORT_TLS_H
#define PT_TRANSPORT_TLS_H

#include <stddef.h>
#include <stdint.h>

#include "pt_transport.h"

#define PT_TLS_VERSION_1_2 0x0303
#define PT_TLS_VERSION_1_3 0x0304

#define PT_TLS_PIN_LEN 32 /* SHA-256 */
#define PT_TLS_MAX_PINS 4

/* The Chrome release whose ClientHello the client reproduces with this build
 * of BoringSSL (see docs/FINGERPRINT.md), and its JA4 with SNI. */
const char *pt_tls_client_profile_name(void);
const char *pt_tls_client_profile_ja4(void);

/* Called once when the handshake completes (status 0) or fails (< 0). */
typedef void (*pt_tls_handshake_cb)(pt_transport *t, int status, void *arg);

/* ---- client ---------------------------------------------------------------- */

typedef enum pt_tls_verify_mode {
    PT_TLS_VERIFY_SYSTEM = 0, /* system roots (ca_file) and the server name */
    PT_TLS_VERIFY_PIN,        /* leaf SPKI SHA-256 equals one of |pins| */
    PT_TLS_VERIFY_NONE,       /* accept any certificate (tests, demo only) */
} pt_tls_verify_mode;

typedef struct pt_tls_client_config {
    pt_tls_verify_mode verify;
    /* PT_TLS_VERIFY_SYSTEM: PEM bundle of trust anchors; NULL means
     * /etc/ssl/certs/ca-certificates.crt (Debian's ca-certificates). */
    const char *ca_file;
    /* PT_TLS_VERIFY_PIN: SHA-256 of the DER SubjectPublicKeyInfo of the
     * server's leaf certificate (what pt_tls_spki_sha256_file computes). */
    uint8_t pins[PT_TLS_MAX_PINS][PT_TLS_PIN_LEN];
    size_t n_pins;
    /* 0: resume sessions like a browser; 1: never offer a session. */
    int no_session_cache;
    /* 0 means TLS 1.3. PT_TLS_VERSION_1_2 makes a TLS 1.2-only client (tests;
     * it no longer looks like Chrome). */
    uint16_t max_version;
} pt_tls_client_config;

typedef struct pt_tls_client_ctx pt_tls_client_ctx;

/* pt_tls_client_ctx_new builds a client context (shared by many
 * connections; it holds the session cache). Returns 0 and sets |*out|, or
 * PT_ERR_CONFIG (bad config, unreadable ca_file), PT_ERR_NOMEM or
 * PT_ERR_CRYPTO. */
int pt_tls_client_ctx_new(pt_tls_client_ctx **out, const pt_tls_client_config *cfg);

/* pt_tls_client_ctx_free drops the caller's reference; connections still
 * open keep the context alive until they are closed. NULL is fine. */
void pt_tls_client_ctx_free(pt_tls_client_ctx *ctx);

/* pt_tls_client_new starts a TLS client over |lower| (which must be fresh:
 * no reads started, no owner callbacks in use). |server_name| is sent as SNI
 * unless it is an IP literal (Chrome sends no SNI for addresses) and is what
 * PT_TLS_VERIFY_SYSTEM checks the certificate against; it also keys the
 * session cache. It may be NULL only with PT_TLS_VERIFY_PIN or _NONE.
 * |cb| may be NULL. Returns 0 and sets |*out|, or a negative libuv error
 * (UV_ENOMEM, UV_EINVAL, the lower transport's write error).
 * Takes ownership of |lower| on success only: closing the TLS transport
 * closes it. */
int pt_tls_client_new(pt_transport **out, pt_tls_client_ctx *ctx, pt_transport *lower,
                      const char *server_name, pt_tls_handshake_cb cb, void *arg);

/* ---- server ---------------------------------------------------------------- */

typedef struct pt_tls_server_config {
    const char *cert_file; /* PEM: leaf first, then intermediates */
    const char *key_file;  /* PEM private key */
    /* ALPN protocols the server accepts, in its order of preference,
     * comma-separated. NULL means nginx's "h2,http/1.1,http/1.0,http/0.9";
     * "" disables ALPN. As in nginx: the first of ours the client offers
     * wins; a client that offers ALPN but none of ours gets a
     * no_application_protocol alert; a client that offers no ALPN gets
     * none. */
    const char *alpn;
    /* 1: compress our certificate with brotli for clients that ask
     * (RFC 8879). nginx does not by default. */
    int cert_compression;
    /* 1: no session tickets (nginx: ssl_session_tickets off). */
    int no_tickets;
    /* 0 means TLS 1.2 .. 1.3. */
    uint16_t min_version, max_version;
} pt_tls_server_config;

typedef struct pt_tls_server_ctx pt_tls_server_ctx;

/* pt_tls_server_ctx_new loads the certificate and key. Returns 0 and sets
 * |*out|, or PT_ERR_CONFIG (unreadable or mismatched files, bad ALPN list),
 * PT_ERR_NOMEM or PT_ERR_CRYPTO. */
int pt_tls_server_ctx_new(pt_tls_server_ctx **out, const pt_tls_server_config *cfg);

/* pt_tls_server_ctx_free: as pt_tls_client_ctx_free. */
void pt_tls_server_ctx_free(pt_tls_server_ctx *ctx);

/* pt_tls_server_new starts a TLS server over |lower| (an accepted
 * connection). |cb| may be NULL. Returns 0 and sets |*out| or a negative
 * libuv error. Takes ownership of |lower| on success only. */
int pt_tls_server_new(pt_transport **out, pt_tls_server_ctx *ctx, pt_transport *lower,
                      pt_tls_handshake_cb cb, void *arg);

/* Called, instead of the handshake, when the first bytes a server receives
 * are not a TLS handshake BoringSSL should answer: the first byte is not
 * 0x16 (plain HTTP on the TLS port, an SSLv2-format hello, noise), or the
 * first read holds a record header and a whole message header whose type is
 * not ClientHello, or a ClientHello of TLS 1.0/1.1 (OpenSSL, and so nginx,
 * sends other alerts for these than BoringSSL would; the owner imitates
 * them). The callee owns |lower| (its callbacks cleared, reading stopped)
 * and gets the bytes read so far (borrowed for the call). The TLS transport
 * |t| is finished: no handshake callback, no on_eof; the owner closes it
 * (which no longer touches |lower|). */
typedef void (*pt_tls_raw_cb)(pt_transport *t, pt_transport *lower, const uint8_t *data,
                              size_t len, void *arg);

/* pt_tls_server_set_raw_fallback installs |cb| on a server transport that
 * has not received anything yet (call right after pt_tls_server_new). */
void pt_tls_server_set_raw_fallback(pt_transport *t, pt_tls_raw_cb cb, void *arg);

/* pt_tls_lower returns the transport under |t| (TCP in practice), NULL once
 * handed to a raw fallback. For socket options (SO_LINGER) only: do not
 * read or write it. */
pt_transport *pt_tls_lower(pt_transport *t);

/* ---- connection state (any role; |t| must be a TLS transport) -------------- */

/* pt_tls_is_tls returns 1 if |t| is a TLS transport made by this module. */
int pt_tls_is_tls(const pt_transport *t);

/* pt_tls_handshake_done returns 1 once the handshake callback has reported
 * success. */
int pt_tls_handshake_done(const pt_transport *t);

/* pt_tls_alpn sets |*out| to the negotiated ALPN protocol (not
 * NUL-terminated; valid until close) and returns its length, 0 if none. */
size_t pt_tls_alpn(const pt_transport *t, const uint8_t **out);

/* pt_tls_version returns the negotiated version (PT_TLS_VERSION_*), 0
 * before the handshake. pt_tls_cipher returns the IANA cipher suite value
 * and pt_tls_group the key exchange group (0x001d x25519, 0x6399
 * X25519Kyber768Draft00, ...), 0 if unknown. */
uint16_t pt_tls_version(const pt_transport *t);
uint16_t pt_tls_cipher(const pt_transport *t);
uint16_t pt_tls_group(const pt_transport *t);

/* pt_tls_session_reused returns 1 if the handshake resumed a session. */
int pt_tls_session_reused(const pt_transport *t);

/* pt_tls_cert_compressed returns 1 if the server's certificate travelled
 * brotli-compressed (the client decompressed it / the server compressed it). */
int pt_tls_cert_compressed(const pt_transport *t);

/* pt_tls_server_name returns the SNI the client sent (server) or the name
 * given to pt_tls_client_new (client); NULL if none. Valid until close. */
const char *pt_tls_server_name(const pt_transport *t);

/* pt_tls_error_string returns a description of the failure behind the last
 * negative status or on_eof (BoringSSL's reason, a verification result, an
 * alert); "" if none. Never NULL; valid until close. */
const char *pt_tls_error_string(const pt_transport *t);

/* ---- helpers --------------------------------------------------------------- */

/* pt_tls_spki_sha256_der / _file compute the pin of a certificate: the
 * SHA-256 of its DER SubjectPublicKeyInfo, from DER bytes or from the first
 * certificate of a PEM file. Return 0, PT_ERR_PROTO (not a certificate) or
 * PT_ERR_CONFIG (unreadable file). */
int pt_tls_spki_sha256_der(uint8_t out[PT_TLS_PIN_LEN], const uint8_t *der, size_t der_len);
int pt_tls_spki_sha256_file(uint8_t out[PT_TLS_PIN_LEN], const char *cert_pem_path);

/* pt_tls_selfsigned_generate writes a new ECDSA P-256 self-signed
 * certificate for |hostname| (CN and subjectAltName; an IP literal becomes an
 * iPAddress SAN), valid from one hour ago for 365 days, to |cert_path| (PEM,
 * mode 0644) and its private key to |key_path| (PKCS#8 PEM, mode 0600).
 * Returns 0, PT_ERR_INVAL, PT_ERR_IO or PT_ERR_CRYPTO. */
int pt_tls_selfsigned_generate(const char *cert_path, const char *key_path, const char *hostname);

#endif /* PT_TRANSPORT_TLS_H */
