/* pt_tls.c — TLS over a pt_transport with BoringSSL; see pt_tls.h.
 *
 * BoringSSL reads from and writes to one custom in-memory BIO (bio_*):
 *  - reading hands out a view of the bytes the lower transport delivered:
 *    zero-copy while we are inside the lower on_read, and from |saved| for
 *    what is left over when the owner stops reading. (A BIO_s_mem would
 *    memmove its whole remainder on every record it gives out.)
 *  - writing appends to |out|, which a flush hands whole to one lower write.
 * Nothing here blocks and no socket reaches BoringSSL: every SSL_* call runs
 * from a libuv callback or from an owner's call, on bytes already in memory. */
#include "pt_tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <brotli/decode.h>
#include <brotli/encode.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/bytestring.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/ec_key.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/nid.h>
#include <openssl/pem.h>
#include <openssl/pool.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "pt_err.h"

/* TLSPlaintext.length limit (RFC 8446 §5.1): one SSL_read never returns more,
 * and writes are coalesced into records of this size. */
#define TLS_RECORD_MAX 16384
/* A write() larger than this is refused (UV_E2BIG): the ciphertext is built
 * in memory in one piece before it goes to the lower transport. */
#define TLS_WRITE_MAX (64u << 20)
/* Input held while the owner is not reading: one lower read (64 KiB for TCP)
 * at a time in practice; anything near this bound is a broken peer. */
#define TLS_SAVED_MAX (4u << 20)
#define TLS_SESSION_CACHE_SIZE 64
/* A ciphertext buffer up to this size is kept for the next flush. */
#define TLS_SPARE_MAX (256u << 10)
#define TLS_ERRSTR_LEN 256
#define TLS_DEFAULT_CA_FILE "/etc/ssl/certs/ca-certificates.crt"

#ifdef PT_TLS_DEBUG
#define TLS_LOG(...) fprintf(stderr, "pt_tls: " __VA_ARGS__)
#else
#define TLS_LOG(...) ((void)0)
#endif

/* ---- the Chrome profile ---------------------------------------------------- *
 * docs/FINGERPRINT.md explains each value. With Debian's BoringSSL 14 the
 * newest Chrome we can reproduce exactly is 124-130: X25519Kyber768Draft00,
 * ALPS at 0x4469, no ML-DSA, no trust anchors. A newer BoringSSL that has
 * X25519MLKEM768 (SSL_GROUP_X25519_MLKEM768) gives Chrome 131-132; with the
 * new ALPS codepoint as well (API version 27+) Chrome 133 and later, minus
 * the extensions no BoringSSL API can add. */
#if defined(SSL_GROUP_X25519_MLKEM768) && BORINGSSL_API_VERSION >= 27
#define TLS_PROFILE_NEW_ALPS 1 /* SSL_set_alps_use_new_codepoint, API 27+ */
#define TLS_PROFILE_NAME "Chrome 133+ (X25519MLKEM768, ALPS 0x44cd)"
#define TLS_PROFILE_JA4 "t13d1516h2_8daaf6152771_d8a2da3f94cd"
#elif defined(SSL_GROUP_X25519_MLKEM768)
#define TLS_PROFILE_NAME "Chrome 131-132 (X25519MLKEM768, ALPS 0x4469)"
#define TLS_PROFILE_JA4 "t13d1516h2_8daaf6152771_02713d6af862"
#else
#define TLS_PROFILE_NAME "Chrome 124-130 (X25519Kyber768Draft00, ALPS 0x4469)"
#define TLS_PROFILE_JA4 "t13d1516h2_8daaf6152771_02713d6af862"
#endif

/* Chromium's ssl_client_socket_impl.cc: BoringSSL's defaults without PSK,
 * without ECDSA+SHA1 CBC and without 3DES. BoringSSL orders the result as it
 * does for Chrome (AES-GCM before ChaCha20 on AES hardware, after it without),
 * which gives c02b c02f c02c c030 cca9 cca8 c013 c014 009c 009d 002f 0035. */
static const char kChromeCiphers[] = "ALL:!aPSK:!ECDSA+SHA1:!3DES";

/* Chrome's signature_algorithms (net/socket/ssl_client_socket_impl.cc). */
static const uint16_t kChromeSigalgs[] = {
    SSL_SIGN_ECDSA_SECP256R1_SHA256, SSL_SIGN_RSA_PSS_RSAE_SHA256, SSL_SIGN_RSA_PKCS1_SHA256,
    SSL_SIGN_ECDSA_SECP384R1_SHA384, SSL_SIGN_RSA_PSS_RSAE_SHA384, SSL_SIGN_RSA_PKCS1_SHA384,
    SSL_SIGN_RSA_PSS_RSAE_SHA512,    SSL_SIGN_RSA_PKCS1_SHA512,
};

static const uint8_t kChromeAlpn[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

/* Chrome's ALPS value for h2: a SETTINGS frame with its HTTP/2 settings
 * (HEADER_TABLE_SIZE 65536, ENABLE_PUSH 0, INITIAL_WINDOW_SIZE 6291456,
 * MAX_HEADER_LIST_SIZE 262144). It travels only if the server negotiates
 * ALPS, and then encrypted; the ClientHello carries just "h2". */
static const uint8_t kChromeH2Settings[] = {
    0x00, 0x00, 0x18, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, /* length 24, SETTINGS, stream 0 */
    0x00, 0x01, 0x00, 0x01, 0x00, 0x00,                   /* HEADER_TABLE_SIZE 65536 */
    0x00, 0x02, 0x00, 0x00, 0x00, 0x00,                   /* ENABLE_PUSH 0 */
    0x00, 0x04, 0x00, 0x60, 0x00, 0x00,                   /* INITIAL_WINDOW_SIZE 6291456 */
    0x00, 0x06, 0x00, 0x04, 0x00, 0x00,                   /* MAX_HEADER_LIST_SIZE 262144 */
};

const char *pt_tls_client_profile_name(void) { return TLS_PROFILE_NAME; }
const char *pt_tls_client_profile_ja4(void) { return TLS_PROFILE_JA4; }

/* ---- contexts --------------------------------------------------------------- */

typedef struct tls_ctx {
    SSL_CTX *ssl_ctx;
    int refs;
    int is_server;
} tls_ctx;

typedef struct session_entry {
    char *key;
    SSL_SESSION *sess;
    uint64_t stamp;
} session_entry;

struct pt_tls_client_ctx {
    tls_ctx base; /* first */
    pt_tls_verify_mode verify;
    uint8_t pins[PT_TLS_MAX_PINS][PT_TLS_PIN_LEN];
    size_t n_pins;
    int no_session_cache;
    session_entry cache[TLS_SESSION_CACHE_SIZE];
    uint64_t cache_clock;
};

struct pt_tls_server_ctx {
    tls_ctx base; /* first */
    uint8_t alpn[256]; /* our protocols, wire format (u8 length-prefixed) */
    size_t alpn_len;
    /* Last certificate compressed, and the result: the certificate does not
     * change, so one brotli run serves every handshake. */
    uint8_t *cc_in, *cc_out;
    size_t cc_in_len, cc_out_len;
};

/* ---- connections ------------------------------------------------------------ */

typedef enum tls_state {
    TLS_HANDSHAKE,
    TLS_OPEN,
    TLS_FAILED,
} tls_state;

static const char *const kStateNames[] = {"HANDSHAKE", "OPEN", "FAILED"};

typedef struct tls_conn tls_conn;

/* One owner write(). Queued ones (before the handshake) keep a copy of the
 * buffer array; the buffers themselves are the owner's until the callback. */
typedef struct tls_wreq {
    struct tls_wreq *next;
    pt_transport_write_cb cb;
    void *arg;
    unsigned nbufs;
    uv_buf_t bufs[];
} tls_wreq;

/* One lower write: ciphertext of one flush and the owner writes it completes. */
typedef struct tls_lreq {
    tls_conn *c;
    uint8_t *buf;
    size_t cap;
    tls_wreq *users;
} tls_lreq;

struct tls_conn {
    pt_transport t; /* first: a pt_transport * is a tls_conn * */
    pt_transport *lower;
    tls_ctx *ctx;
    SSL *ssl;
    tls_state state;
    int is_server;
    pt_tls_handshake_cb hs_cb;
    void *hs_arg;
    int hs_reported, hs_ok;
    int err;         /* the error reported, once FAILED */
    int pending_err; /* a failure found inside write(), reported from the loop */

    /* Input view for the BIO: external (inside lower on_read) or into saved. */
    const uint8_t *in;
    size_t in_len;
    int in_external;
    uint8_t *saved;
    size_t saved_cap;

    /* Output collected from BoringSSL, not yet given to the lower transport. */
    uint8_t *out;
    size_t out_len, out_cap;
    uint8_t *spare; /* a ciphertext buffer returned by a finished lower write */
    size_t spare_cap;

    tls_wreq *queue_head, *queue_tail; /* writes made before the handshake */
    size_t queued_bytes;

    int user_reading, lower_reading;
    int lower_eof, lower_err;
    int eof_reported;
    int shut_requested, shut_done;
    int closing, pending_closes;
    int in_pump, pump_again;
    int cert_compressed;
    pt_transport_close_cb close_cb;
    uv_idle_t idle; /* deferred pump after read_start */
    int idle_inited;

    char *server_name;
    pt_tls_raw_cb raw_cb; /* server: first byte not a handshake record */
    void *raw_arg;
    int got_input;
    char errstr[TLS_ERRSTR_LEN];
    uint8_t stage[TLS_RECORD_MAX]; /* write coalescing */
    uint8_t rbuf[TLS_RECORD_MAX];  /* one record's plaintext */
};

static const pt_transport_ops tls_ops;

static tls_conn *conn_of(pt_transport *t) { return (tls_conn *)t; }
static const tls_conn *cconn_of(const pt_transport *t) { return (const tls_conn *)t; }

static void set_state(tls_conn *c, tls_state s)
{
    TLS_LOG("%p %s -> %s\n", (void *)c, kStateNames[c->state], kStateNames[s]);
    (void)kStateNames;
    c->state = s;
}

static void set_errstr(tls_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_errstr(tls_conn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->errstr, sizeof(c->errstr), fmt, ap);
    va_end(ap);
}

/* Append "; |part|" to |c->errstr| (truncating). */
static void append_errstr(tls_conn *c, const char *part)
{
    size_t used = strlen(c->errstr);
    if (used + 3 < sizeof(c->errstr)) {
        snprintf(c->errstr + used, sizeof(c->errstr) - used, "%s%s", used ? "; " : "", part);
    }
}

/* Append BoringSSL's queued errors (oldest first) to |c->errstr|, then clear. */
static void take_ssl_errors(tls_conn *c)
{
    uint32_t e;
    while ((e = ERR_get_error()) != 0) {
        char buf[160];
        ERR_error_string_n(e, buf, sizeof(buf));
        append_errstr(c, buf);
    }
}

/* ---- the BIO ------------------------------------------------------------------ */

static int bio_write(BIO *b, const char *in, int inl)
{
    tls_conn *c = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (inl <= 0) {
        return 0;
    }
    size_t need = c->out_len + (size_t)inl;
    if (need > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : TLS_RECORD_MAX + 1024;
        while (cap < need) {
            cap *= 2;
        }
        uint8_t *p = realloc(c->out, cap);
        if (!p) {
            return -1;
        }
        c->out = p;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, in, (size_t)inl);
    c->out_len = need;
    return inl;
}

static int bio_read(BIO *b, char *out, int outl)
{
    tls_conn *c = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (outl <= 0) {
        return 0;
    }
    if (c->in_len == 0) {
        if (c->lower_eof) {
            return 0; /* end of stream: BoringSSL decides if that truncates */
        }
        BIO_set_retry_read(b);
        return -1;
    }
    size_t n = c->in_len < (size_t)outl ? c->in_len : (size_t)outl;
    memcpy(out, c->in, n);
    c->in += n;
    c->in_len -= n;
    return (int)n;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b;
    (void)num;
    (void)ptr;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static BIO_METHOD *g_bio_method;
static pthread_once_t g_bio_once = PTHREAD_ONCE_INIT;

static void bio_method_init(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "pt_tls");
    if (m && BIO_meth_set_write(m, bio_write) && BIO_meth_set_read(m, bio_read) &&
        BIO_meth_set_ctrl(m, bio_ctrl)) {
        g_bio_method = m;
    } else {
        BIO_meth_free(m);
    }
}

/* ---- input buffer ------------------------------------------------------------- */

/* Make |saved| hold the unread input followed by |add|, and point the BIO's
 * view at it: used when bytes must outlive the lower on_read they came in. */
static int save_input(tls_conn *c, const uint8_t *add, size_t add_len)
{
    size_t keep = c->in_len;
    size_t need = keep + add_len;
    if (need > TLS_SAVED_MAX) {
        return UV_ENOBUFS;
    }
    if (need > c->saved_cap) {
        size_t cap = c->saved_cap ? c->saved_cap : 65536;
        while (cap < need) {
            cap *= 2;
        }
        uint8_t *p = malloc(cap);
        if (!p) {
            return UV_ENOMEM;
        }
        if (keep) {
            memcpy(p, c->in, keep);
        }
        free(c->saved);
        c->saved = p;
        c->saved_cap = cap;
    } else if (keep && c->in != c->saved) {
        memmove(c->saved, c->in, keep); /* |in| may point into |saved| */
    }
    if (add_len) {
        memcpy(c->saved + keep, add, add_len);
    }
    c->in = c->saved;
    c->in_len = need;
    c->in_external = 0;
    return 0;
}

/* ---- output ------------------------------------------------------------------- */

static void complete_users(tls_conn *c, tls_wreq *w, int status)
{
    while (w) {
        tls_wreq *next = w->next;
        if (w->cb) {
            w->cb(&c->t, status, w->arg);
        }
        free(w);
        w = next;
    }
}

static void lower_write_done(pt_transport *lower, int status, void *arg)
{
    (void)lower;
    tls_lreq *lr = arg;
    tls_conn *c = lr->c;
    if (!c->spare && lr->buf && lr->cap <= TLS_SPARE_MAX) {
        c->spare = lr->buf;
        c->spare_cap = lr->cap;
    } else {
        free(lr->buf);
    }
    tls_wreq *users = lr->users;
    free(lr);
    complete_users(c, users, status);
}

/* Hand everything BoringSSL wrote to the lower transport in one write, with
 * |users| completing when it does. On error nothing was sent and |users| are
 * untouched; the caller decides what to tell them. */
static int flush_out(tls_conn *c, tls_wreq *users)
{
    if (c->out_len == 0 && !users) {
        return 0;
    }
    if (!c->lower) {
        return UV_EPIPE; /* handed to a raw fallback */
    }
    tls_lreq *lr = malloc(sizeof(*lr));
    if (!lr) {
        return UV_ENOMEM;
    }
    lr->c = c;
    lr->buf = c->out;
    lr->cap = c->out_cap;
    lr->users = users;
    uv_buf_t b = uv_buf_init((char *)c->out, (unsigned)c->out_len);
    int rc = pt_transport_write(c->lower, &b, 1, lower_write_done, lr);
    if (rc != 0) {
        free(lr);
        return rc;
    }
    c->out = c->spare;
    c->out_cap = c->out ? c->spare_cap : 0;
    c->out_len = 0;
    c->spare = NULL;
    c->spare_cap = 0;
    return 0;
}

/* ---- state changes -------------------------------------------------------------- */

static void pump(tls_conn *c);

static void update_lower_reading(tls_conn *c)
{
    if (!c->lower) {
        return;
    }
    int want = !c->closing && c->state != TLS_FAILED && !c->eof_reported && !c->lower_eof &&
               (c->state == TLS_HANDSHAKE || c->user_reading || SSL_in_init(c->ssl));
    if (want && !c->lower_reading) {
        if (pt_transport_read_start(c->lower) == 0) {
            c->lower_reading = 1;
        }
    } else if (!want && c->lower_reading) {
        pt_transport_read_stop(c->lower);
        c->lower_reading = 0;
    }
}

static void report_eof(tls_conn *c, int err)
{
    if (c->eof_reported) {
        return;
    }
    c->eof_reported = 1;
    update_lower_reading(c);
    if (c->t.on_eof) {
        c->t.on_eof(&c->t, err);
    }
}

/* A fatal error: send what BoringSSL queued (an alert), stop reading, tell
 * the owner once through the handshake callback (if still pending) and once
 * through on_eof. */
static void fail(tls_conn *c, int err)
{
    if (c->state == TLS_FAILED) {
        return;
    }
    if (!c->errstr[0]) {
        set_errstr(c, "%s", uv_strerror(err));
    }
    TLS_LOG("%p failed: %s (%s)\n", (void *)c, uv_err_name(err), c->errstr);
    if (!c->lower_eof || c->lower_err == 0) {
        (void)flush_out(c, NULL);
    }
    set_state(c, TLS_FAILED);
    c->err = err;
    update_lower_reading(c);
    /* Writes queued during the handshake will never go out. */
    tls_wreq *q = c->queue_head;
    c->queue_head = c->queue_tail = NULL;
    c->queued_bytes = 0;
    complete_users(c, q, err);
    if (!c->hs_reported) {
        c->hs_reported = 1;
        if (c->hs_cb && !c->closing) {
            c->hs_cb(&c->t, err, c->hs_arg);
        }
    }
    if (!c->closing) {
        report_eof(c, err);
    }
}

/* The error behind a failed SSL_* call |ret|. */
static int ssl_error(tls_conn *c, int ret, const char *op)
{
    int e = SSL_get_error(c->ssl, ret);
    if (!c->errstr[0]) {
        if (e == SSL_ERROR_SYSCALL) {
            set_errstr(c, "%s: connection closed without close_notify", op);
        } else {
            set_errstr(c, "%s failed", op);
        }
        long vr = c->is_server ? X509_V_OK : SSL_get_verify_result(c->ssl);
        if (vr != X509_V_OK && e == SSL_ERROR_SSL) {
            char buf[160];
            snprintf(buf, sizeof(buf), "certificate: %s", X509_verify_cert_error_string(vr));
            append_errstr(c, buf);
        }
        take_ssl_errors(c);
    }
    ERR_clear_error();
    if (c->lower_err < 0) {
        return c->lower_err;
    }
    return UV_EPROTO;
}

/* SSL_write all of |p|: the BIO never refuses, so this is one call per
 * 2^31 bytes; each TLS_RECORD_MAX bytes become one record. */
static int ssl_write_all(tls_conn *c, const uint8_t *p, size_t n)
{
    while (n > 0) {
        int chunk = n > (size_t)INT_MAX ? INT_MAX - (INT_MAX % TLS_RECORD_MAX) : (int)n;
        int r = SSL_write(c->ssl, p, chunk);
        if (r <= 0) {
            return ssl_error(c, r, "write");
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Encrypt |bufs|: small buffers are coalesced into full records through
 * |stage|, long runs are written in place. */
static int encrypt_bufs(tls_conn *c, const uv_buf_t *bufs, unsigned nbufs)
{
    size_t st = 0;
    for (unsigned i = 0; i < nbufs; i++) {
        const uint8_t *p = (const uint8_t *)bufs[i].base;
        size_t len = bufs[i].len;
        while (len > 0) {
            if (st == 0 && len >= TLS_RECORD_MAX) {
                size_t n = len - len % TLS_RECORD_MAX;
                int rc = ssl_write_all(c, p, n);
                if (rc != 0) {
                    return rc;
                }
                p += n;
                len -= n;
                continue;
            }
            size_t take = TLS_RECORD_MAX - st < len ? TLS_RECORD_MAX - st : len;
            memcpy(c->stage + st, p, take);
            st += take;
            p += take;
            len -= take;
            if (st == TLS_RECORD_MAX) {
                int rc = ssl_write_all(c, c->stage, st);
                if (rc != 0) {
                    return rc;
                }
                st = 0;
            }
        }
    }
    return st ? ssl_write_all(c, c->stage, st) : 0;
}

static void do_shutdown(tls_conn *c)
{
    if (SSL_in_init(c->ssl)) {
        return; /* False Start: finish_false_start sends it */
    }
    c->shut_done = 1;
    /* 0: close_notify sent, the peer's not yet seen; 1: both. Either way our
     * half is closed; a failure here only means the alert could not be made. */
    if (SSL_shutdown(c->ssl) < 0) {
        ERR_clear_error();
    }
    int rc = flush_out(c, NULL);
    if (rc == 0) {
        rc = pt_transport_shutdown(c->lower);
    }
    if (rc != 0 && rc != UV_ENOTCONN) {
        set_errstr(c, "shutdown: %s", uv_strerror(rc));
        fail(c, rc);
    }
}

static void handshake_complete(tls_conn *c)
{
    set_state(c, TLS_OPEN);
    c->hs_reported = 1;
    c->hs_ok = 1;
    if (c->is_server && SSL_version(c->ssl) == TLS1_3_VERSION) {
        /* BoringSSL holds its NewSessionTickets back until the first write;
         * OpenSSL (nginx) sends them right after the client's Finished, and
         * a prober sees the difference. An empty write sends them now. */
        if (SSL_write(c->ssl, "", 0) < 0) {
            ERR_clear_error();
        }
    }
    /* Writes made during the handshake follow the Finished in one write. */
    tls_wreq *users = c->queue_head;
    c->queue_head = c->queue_tail = NULL;
    c->queued_bytes = 0;
    int rc = 0;
    for (tls_wreq *w = users; w && rc == 0; w = w->next) {
        rc = encrypt_bufs(c, w->bufs, w->nbufs);
    }
    if (rc == 0) {
        rc = flush_out(c, users);
    }
    if (rc != 0) {
        complete_users(c, users, rc);
        c->hs_reported = 0;
        c->hs_ok = 0;
        fail(c, rc);
        return;
    }
    if (c->shut_requested && !c->shut_done) {
        do_shutdown(c);
        if (c->state == TLS_FAILED) {
            return;
        }
    }
    update_lower_reading(c);
    if (c->hs_cb && !c->closing) {
        c->hs_cb(&c->t, 0, c->hs_arg);
    }
}

static void do_handshake(tls_conn *c)
{
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        handshake_complete(c);
        return;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ) {
        int rc = flush_out(c, NULL);
        if (rc != 0) {
            set_errstr(c, "handshake write: %s", uv_strerror(rc));
            fail(c, rc);
        }
        return;
    }
    fail(c, ssl_error(c, r, "handshake"));
}

/* A TLS 1.2 client in False Start (as Chrome) has sent its Finished and may
 * write, but the server's Finished is still to come: read it even while the
 * owner does not read (no application data can precede it), then send a
 * close_notify that had to wait (BoringSSL refuses one mid-handshake). */
static void finish_false_start(tls_conn *c)
{
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        if (c->shut_requested && !c->shut_done) {
            do_shutdown(c);
        }
        update_lower_reading(c);
        return;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ) {
        int rc = flush_out(c, NULL);
        if (rc != 0) {
            fail(c, rc);
        }
        return;
    }
    fail(c, ssl_error(c, r, "handshake"));
}

static void do_read(tls_conn *c)
{
    while (c->user_reading && !c->closing && c->state == TLS_OPEN && !c->eof_reported) {
        int n = SSL_read(c->ssl, c->rbuf, sizeof(c->rbuf));
        if (n > 0) {
            if (c->out_len) { /* e.g. a KeyUpdate answer */
                int rc = flush_out(c, NULL);
                if (rc != 0) {
                    fail(c, rc);
                    return;
                }
            }
            if (c->t.on_read) {
                c->t.on_read(&c->t, c->rbuf, (size_t)n);
            }
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_READ) {
            int rc = flush_out(c, NULL);
            if (rc != 0) {
                fail(c, rc);
            }
            return;
        }
        if (e == SSL_ERROR_ZERO_RETURN) {
            ERR_clear_error();
            report_eof(c, 0); /* close_notify */
            return;
        }
        fail(c, ssl_error(c, n, "read"));
        return;
    }
}

static void pump(tls_conn *c)
{
    if (c->in_pump) {
        c->pump_again = 1;
        return;
    }
    c->in_pump = 1;
    do {
        c->pump_again = 0;
        if (c->closing) {
            break;
        }
        if (c->state == TLS_HANDSHAKE) {
            do_handshake(c);
        }
        if (c->state == TLS_OPEN && SSL_in_init(c->ssl)) {
            finish_false_start(c);
        }
        if (c->state == TLS_OPEN) {
            do_read(c);
        }
    } while (c->pump_again);
    c->in_pump = 0;
}

static void on_idle(uv_idle_t *h)
{
    tls_conn *c = h->data;
    uv_idle_stop(h);
    if (c->pending_err && !c->closing) {
        fail(c, c->pending_err);
        return;
    }
    pump(c);
}

static void arm_idle(tls_conn *c)
{
    if (!c->closing && c->idle_inited) {
        uv_idle_start(&c->idle, on_idle);
    }
}

/* ---- lower transport callbacks ---------------------------------------------------- */

/* The first bytes are not TLS: give the lower transport away. */
static void raw_fallback(tls_conn *c, pt_transport *lower, const uint8_t *data, size_t len)
{
    lower->on_read = NULL;
    lower->on_eof = NULL;
    lower->data = NULL;
    pt_transport_read_stop(lower);
    c->lower = NULL;
    c->lower_reading = 0;
    set_errstr(c, "not a TLS handshake record");
    set_state(c, TLS_FAILED);
    c->err = UV_EPROTO;
    c->hs_reported = 1;
    c->eof_reported = 1;
    c->raw_cb(&c->t, lower, data, len, c->raw_arg);
}

static void lower_on_read(pt_transport *lower, const uint8_t *data, size_t len)
{
    tls_conn *c = lower->data;
    if (c->closing || c->state == TLS_FAILED || c->eof_reported) {
        return;
    }
    if (!c->got_input && len > 0) {
        c->got_input = 1;
        /* Not a handshake record; or what OpenSSL (nginx) answers with
         * other alerts than BoringSSL would: a handshake record whose first
         * message is not a ClientHello (unexpected_message), a TLS 1.0/1.1
         * ClientHello (internal_error: no protocols at OpenSSL 3's security
         * level). The owner answers those. */
        if (c->is_server && c->raw_cb &&
            (data[0] != 0x16 ||
             (len >= 9 && ((size_t)data[3] << 8 | data[4]) >= 4 && data[5] != 0x01) ||
             (len >= 11 && data[5] == 0x01 && data[9] == 0x03 &&
              (data[10] == 0x01 || data[10] == 0x02)))) {
            raw_fallback(c, lower, data, len);
            return;
        }
    }
    if (c->in_len > 0) {
        /* Earlier bytes are still waiting: keep the order. */
        int rc = save_input(c, data, len);
        if (rc != 0) {
            set_errstr(c, "input buffer: %s", uv_strerror(rc));
            fail(c, rc);
            return;
        }
    } else {
        c->in = data;
        c->in_len = len;
        c->in_external = 1;
    }
    pump(c);
    if (c->in_external) {
        if (c->in_len > 0) {
            int rc = save_input(c, NULL, 0);
            if (rc != 0 && !c->closing) {
                set_errstr(c, "input buffer: %s", uv_strerror(rc));
                fail(c, rc);
            }
        }
        if (c->in_external) {
            c->in = NULL;
            c->in_len = 0;
            c->in_external = 0;
        }
    }
}

static void lower_on_eof(pt_transport *lower, int err)
{
    tls_conn *c = lower->data;
    c->lower_eof = 1;
    c->lower_reading = 0;
    if (err < 0) {
        c->lower_err = err;
    }
    if (c->closing || c->state == TLS_FAILED || c->eof_reported) {
        return;
    }
    if (err < 0) {
        set_errstr(c, "lower transport: %s", uv_strerror(err));
        fail(c, err);
        return;
    }
    pump(c); /* the BIO now reports end of stream */
}

/* ---- pt_transport ops ------------------------------------------------------------- */

static int tls_read_start(pt_transport *t)
{
    tls_conn *c = conn_of(t);
    if (c->closing) {
        return UV_EINVAL;
    }
    c->user_reading = 1;
    if (c->state == TLS_OPEN && !c->eof_reported) {
        update_lower_reading(c);
        arm_idle(c); /* bytes already buffered, or an EOF already seen */
    }
    return 0;
}

static int tls_read_stop(pt_transport *t)
{
    tls_conn *c = conn_of(t);
    c->user_reading = 0;
    update_lower_reading(c);
    return 0;
}

static int tls_write(pt_transport *t, const uv_buf_t *bufs, unsigned nbufs, pt_transport_write_cb cb,
                     void *arg)
{
    tls_conn *c = conn_of(t);
    if (c->closing) {
        return UV_EPIPE;
    }
    if (c->state == TLS_FAILED || c->pending_err) {
        return c->pending_err ? c->pending_err : c->err;
    }
    if (c->shut_requested) {
        return UV_EPIPE;
    }
    size_t total = 0;
    for (unsigned i = 0; i < nbufs; i++) {
        total += bufs[i].len;
        if (total > TLS_WRITE_MAX) {
            return UV_E2BIG;
        }
    }
    int queue = c->state == TLS_HANDSHAKE;
    if (queue && c->queued_bytes + total > TLS_WRITE_MAX) {
        return UV_ENOBUFS; /* all of it goes out in one flush after the handshake */
    }
    tls_wreq *w = malloc(sizeof(*w) + (queue ? nbufs * sizeof(uv_buf_t) : 0));
    if (!w) {
        return UV_ENOMEM;
    }
    w->next = NULL;
    w->cb = cb;
    w->arg = arg;
    w->nbufs = queue ? nbufs : 0;
    if (queue) {
        if (nbufs) {
            memcpy(w->bufs, bufs, nbufs * sizeof(uv_buf_t));
        }
        if (c->queue_tail) {
            c->queue_tail->next = w;
        } else {
            c->queue_head = w;
        }
        c->queue_tail = w;
        c->queued_bytes += total;
        return 0;
    }
    int rc = encrypt_bufs(c, bufs, nbufs);
    if (rc == 0) {
        rc = flush_out(c, w);
    }
    if (rc != 0) {
        free(w);
        /* Records may already be in |out| with sequence numbers used: the
         * stream cannot continue. Report it from the loop, not from inside
         * write() (whose error return means no callback for this write). */
        c->pending_err = rc;
        arm_idle(c);
        return rc;
    }
    return 0;
}

static int tls_shutdown(pt_transport *t)
{
    tls_conn *c = conn_of(t);
    if (c->closing) {
        return UV_EINVAL;
    }
    if (c->state == TLS_FAILED || c->pending_err) {
        return c->pending_err ? c->pending_err : c->err;
    }
    if (c->shut_requested) {
        return 0;
    }
    c->shut_requested = 1;
    if (c->state == TLS_OPEN) {
        do_shutdown(c);
    }
    return 0;
}

static void conn_free(tls_conn *c)
{
    SSL_free(c->ssl); /* frees the BIO */
    free(c->out);
    free(c->spare);
    free(c->saved);
    free(c->server_name);
    tls_ctx *ctx = c->ctx;
    OPENSSL_cleanse(c->rbuf, sizeof(c->rbuf));
    OPENSSL_cleanse(c->stage, sizeof(c->stage));
    free(c);
    if (ctx->is_server) {
        pt_tls_server_ctx_free((pt_tls_server_ctx *)ctx);
    } else {
        pt_tls_client_ctx_free((pt_tls_client_ctx *)ctx);
    }
}

static void close_step(tls_conn *c)
{
    if (--c->pending_closes > 0) {
        return;
    }
    /* libuv's order: cancelled writes first, then the close callback. */
    tls_wreq *q = c->queue_head;
    c->queue_head = c->queue_tail = NULL;
    complete_users(c, q, UV_ECANCELED);
    if (c->close_cb) {
        c->close_cb(&c->t);
    }
    conn_free(c);
}

static void on_lower_closed(pt_transport *lower) { close_step(lower->data); }

static void on_idle_closed(uv_handle_t *h) { close_step(h->data); }

static void tls_close(pt_transport *t, pt_transport_close_cb cb)
{
    tls_conn *c = conn_of(t);
    if (c->closing) {
        return;
    }
    c->closing = 1;
    c->close_cb = cb;
    c->t.on_read = NULL;
    c->t.on_eof = NULL;
    c->pending_closes = c->lower ? 2 : 1;
    uv_close((uv_handle_t *)&c->idle, on_idle_closed);
    if (c->lower) {
        pt_transport_close(c->lower, on_lower_closed);
    }
}

static size_t tls_write_queue_size(const pt_transport *t)
{
    const tls_conn *c = cconn_of(t);
    return c->queued_bytes + c->out_len + (c->lower ? pt_transport_write_queue_size(c->lower) : 0);
}

static const pt_transport_ops tls_ops = {
    .name = "tls",
    .read_start = tls_read_start,
    .read_stop = tls_read_stop,
    .write = tls_write,
    .shutdown = tls_shutdown,
    .close = tls_close,
    .write_queue_size = tls_write_queue_size,
};

/* ---- connection setup --------------------------------------------------------------- */

static tls_conn *conn_new(tls_ctx *ctx, pt_transport *lower, pt_tls_handshake_cb cb, void *arg)
{
    pthread_once(&g_bio_once, bio_method_init);
    if (!g_bio_method) {
        return NULL;
    }
    tls_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        return NULL;
    }
    c->t.ops = &tls_ops;
    c->t.loop = lower->loop;
    c->lower = lower;
    c->ctx = ctx;
    c->hs_cb = cb;
    c->hs_arg = arg;
    c->is_server = ctx->is_server;
    c->state = TLS_HANDSHAKE;
    c->ssl = SSL_new(ctx->ssl_ctx);
    BIO *bio = BIO_new(g_bio_method);
    if (!c->ssl || !bio) {
        BIO_free(bio);
        SSL_free(c->ssl);
        free(c);
        ERR_clear_error();
        return NULL;
    }
    BIO_set_data(bio, c);
    BIO_set_init(bio, 1);
    SSL_set_bio(c->ssl, bio, bio); /* one reference, taken by |ssl| */
    SSL_set_app_data(c->ssl, c);
    ctx->refs++;
    return c;
}

/* Undo conn_new for a connection that never started (no handle, no write). */
static void conn_abort(tls_conn *c)
{
    c->lower->on_read = NULL;
    c->lower->on_eof = NULL;
    c->lower->data = NULL;
    if (c->lower_reading) {
        pt_transport_read_stop(c->lower);
    }
    conn_free(c);
}

/* Start reading the lower transport and send what the first handshake step
 * produced; on success the connection is live. */
static int conn_start(tls_conn *c)
{
    c->lower->data = c;
    c->lower->on_read = lower_on_read;
    c->lower->on_eof = lower_on_eof;
    int rc = pt_transport_read_start(c->lower);
    if (rc != 0) {
        return rc;
    }
    c->lower_reading = 1;
    rc = flush_out(c, NULL);
    if (rc != 0) {
        return rc;
    }
    uv_idle_init(c->t.loop, &c->idle);
    c->idle.data = c;
    c->idle_inited = 1;
    return 0;
}

static int is_ip_literal(const char *s)
{
    uint8_t buf[16];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* ---- client ------------------------------------------------------------------------- */

static void cache_remove(session_entry *e)
{
    free(e->key);
    SSL_SESSION_free(e->sess);
    memset(e, 0, sizeof(*e));
}

static session_entry *cache_find(pt_tls_client_ctx *cc, const char *key)
{
    for (size_t i = 0; i < TLS_SESSION_CACHE_SIZE; i++) {
        if (cc->cache[i].key && strcmp(cc->cache[i].key, key) == 0) {
            return &cc->cache[i];
        }
    }
    return NULL;
}

/* Takes ownership of |sess| on success (returns 1). */
static int cache_put(pt_tls_client_ctx *cc, const char *key, SSL_SESSION *sess)
{
    session_entry *e = cache_find(cc, key);
    if (!e) {
        session_entry *oldest = &cc->cache[0];
        for (size_t i = 0; i < TLS_SESSION_CACHE_SIZE && !e; i++) {
            if (!cc->cache[i].key) {
                e = &cc->cache[i];
            } else if (cc->cache[i].stamp < oldest->stamp) {
                oldest = &cc->cache[i];
            }
        }
        if (!e) {
            e = oldest;
        }
    }
    char *k = strdup(key);
    if (!k) {
        return 0;
    }
    if (e->key) {
        cache_remove(e);
    }
    e->key = k;
    e->sess = sess;
    e->stamp = ++cc->cache_clock;
    return 1;
}

/* BoringSSL hands us each new session (TLS 1.2 ticket or id; each TLS 1.3
 * NewSessionTicket). Like Chrome, keep the newest per host. (BoringSSL drops
 * TLS 1.3 tickets that arrive after our close_notify.) */
static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
    tls_conn *c = SSL_get_app_data(ssl);
    pt_tls_client_ctx *cc = (pt_tls_client_ctx *)c->ctx;
    if (cc->no_session_cache || !c->server_name) {
        return 0;
    }
    return cache_put(cc, c->server_name, sess);
}

static enum ssl_verify_result_t verify_pin(SSL *ssl, uint8_t *out_alert)
{
    tls_conn *c = SSL_get_app_data(ssl);
    pt_tls_client_ctx *cc = (pt_tls_client_ctx *)c->ctx;
    const STACK_OF(CRYPTO_BUFFER) *chain = SSL_get0_peer_certificates(ssl);
    uint8_t h[PT_TLS_PIN_LEN];
    if (!chain || sk_CRYPTO_BUFFER_num(chain) == 0) {
        set_errstr(c, "certificate: none sent");
        *out_alert = SSL_AD_BAD_CERTIFICATE;
        return ssl_verify_invalid;
    }
    const CRYPTO_BUFFER *leaf = sk_CRYPTO_BUFFER_value(chain, 0);
    if (pt_tls_spki_sha256_der(h, CRYPTO_BUFFER_data(leaf), CRYPTO_BUFFER_len(leaf)) != 0) {
        set_errstr(c, "certificate: cannot parse the leaf");
        *out_alert = SSL_AD_BAD_CERTIFICATE;
        return ssl_verify_invalid;
    }
    int ok = 0;
    for (size_t i = 0; i < cc->n_pins; i++) {
        ok |= CRYPTO_memcmp(h, cc->pins[i], PT_TLS_PIN_LEN) == 0;
    }
    if (!ok) {
        set_errstr(c, "certificate: SPKI SHA-256 matches no pin");
        *out_alert = SSL_AD_BAD_CERTIFICATE;
        return ssl_verify_invalid;
    }
    return ssl_verify_ok;
}

static enum ssl_verify_result_t verify_none(SSL *ssl, uint8_t *out_alert)
{
    (void)ssl;
    (void)out_alert;
    return ssl_verify_ok;
}

/* RFC 8879 brotli, as Chrome: decompress the server's certificate. */
static int brotli_decompress(SSL *ssl, CRYPTO_BUFFER **out, size_t uncompressed_len,
                             const uint8_t *in, size_t in_len)
{
    tls_conn *c = SSL_get_app_data(ssl);
    uint8_t *data;
    CRYPTO_BUFFER *buf = CRYPTO_BUFFER_alloc(&data, uncompressed_len);
    if (!buf) {
        return 0;
    }
    size_t n = uncompressed_len;
    if (BrotliDecoderDecompress(in_len, in, &n, data) != BROTLI_DECODER_RESULT_SUCCESS ||
        n != uncompressed_len) {
        CRYPTO_BUFFER_free(buf);
        return 0;
    }
    c->cert_compressed = 1;
    *out = buf;
    return 1;
}

static int brotli_compress(SSL *ssl, CBB *out, const uint8_t *in, size_t in_len)
{
    tls_conn *c = SSL_get_app_data(ssl);
    pt_tls_server_ctx *sc = (pt_tls_server_ctx *)c->ctx;
    if (sc->cc_out && sc->cc_in_len == in_len && memcmp(sc->cc_in, in, in_len) == 0) {
        c->cert_compressed = 1;
        return CBB_add_bytes(out, sc->cc_out, sc->cc_out_len);
    }
    size_t max = BrotliEncoderMaxCompressedSize(in_len);
    uint8_t *p;
    if (max == 0 || !CBB_reserve(out, &p, max)) {
        return 0;
    }
    size_t n = max;
    if (!BrotliEncoderCompress(BROTLI_DEFAULT_QUALITY, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_GENERIC,
                               in_len, in, &n, p) ||
        !CBB_did_write(out, n)) {
        return 0;
    }
    uint8_t *ci = malloc(in_len ? in_len : 1), *co = malloc(n ? n : 1);
    if (ci && co) {
        memcpy(ci, in, in_len);
        memcpy(co, p, n);
        free(sc->cc_in);
        free(sc->cc_out);
        sc->cc_in = ci;
        sc->cc_in_len = in_len;
        sc->cc_out = co;
        sc->cc_out_len = n;
    } else {
        free(ci);
        free(co);
    }
    c->cert_compressed = 1;
    return 1;
}

int pt_tls_client_ctx_new(pt_tls_client_ctx **out, const pt_tls_client_config *cfg)
{
    *out = NULL;
    if (cfg->verify == PT_TLS_VERIFY_PIN && (cfg->n_pins == 0 || cfg->n_pins > PT_TLS_MAX_PINS)) {
        return PT_ERR_CONFIG;
    }
    if (cfg->verify != PT_TLS_VERIFY_SYSTEM && cfg->verify != PT_TLS_VERIFY_PIN &&
        cfg->verify != PT_TLS_VERIFY_NONE) {
        return PT_ERR_CONFIG;
    }
    uint16_t maxv = cfg->max_version ? cfg->max_version : TLS1_3_VERSION;
    if (maxv != TLS1_2_VERSION && maxv != TLS1_3_VERSION) {
        return PT_ERR_CONFIG;
    }
    pt_tls_client_ctx *cc = calloc(1, sizeof(*cc));
    if (!cc) {
        return PT_ERR_NOMEM;
    }
    cc->base.refs = 1;
    cc->verify = cfg->verify;
    cc->n_pins = cfg->verify == PT_TLS_VERIFY_PIN ? cfg->n_pins : 0;
    memcpy(cc->pins, cfg->pins, sizeof(cc->pins));
    cc->no_session_cache = cfg->no_session_cache;
    SSL_CTX *ctx = cc->base.ssl_ctx = SSL_CTX_new(TLS_method());
    if (!ctx) {
        free(cc);
        ERR_clear_error();
        return PT_ERR_NOMEM;
    }
    int err = PT_ERR_CRYPTO;
    int ok = SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) &&
             SSL_CTX_set_max_proto_version(ctx, maxv) &&
             SSL_CTX_set_strict_cipher_list(ctx, kChromeCiphers) &&
             SSL_CTX_set_verify_algorithm_prefs(ctx, kChromeSigalgs,
                                                sizeof(kChromeSigalgs) / sizeof(kChromeSigalgs[0])) &&
             SSL_CTX_set_alpn_protos(ctx, kChromeAlpn, sizeof(kChromeAlpn)) == 0 &&
             SSL_CTX_add_cert_compression_alg(ctx, TLSEXT_cert_compression_brotli, NULL,
                                              brotli_decompress);
    if (ok) {
#if defined(SSL_GROUP_X25519_MLKEM768)
        static const uint16_t groups[] = {SSL_GROUP_X25519_MLKEM768, SSL_GROUP_X25519,
                                          SSL_GROUP_SECP256R1, SSL_GROUP_SECP384R1};
        ok = SSL_CTX_set1_group_ids(ctx, groups, sizeof(groups) / sizeof(groups[0]));
#else
        /* BoringSSL sends key shares for the first group and, as it is a
         * post-quantum hybrid, for X25519 as well: Chrome's two shares. */
        static const int groups[] = {NID_X25519Kyber768, NID_X25519, NID_X9_62_prime256v1,
                                     NID_secp384r1};
        ok = SSL_CTX_set1_curves(ctx, groups, sizeof(groups) / sizeof(groups[0]));
#endif
    }
    if (ok) {
        SSL_CTX_set_grease_enabled(ctx, 1);
        SSL_CTX_set_permute_extensions(ctx, 1);
        SSL_CTX_enable_ocsp_stapling(ctx);
        SSL_CTX_enable_signed_cert_timestamps(ctx);
        SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_FALSE_START);
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT);
        SSL_CTX_sess_set_new_cb(ctx, on_new_session);
        switch (cfg->verify) {
        case PT_TLS_VERIFY_SYSTEM: {
            const char *ca = cfg->ca_file ? cfg->ca_file : TLS_DEFAULT_CA_FILE;
            if (!SSL_CTX_load_verify_locations(ctx, ca, NULL)) {
                ok = 0;
                err = PT_ERR_CONFIG;
            }
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
            break;
        }
        case PT_TLS_VERIFY_PIN:
            SSL_CTX_set_custom_verify(ctx, SSL_VERIFY_PEER, verify_pin);
            break;
        case PT_TLS_VERIFY_NONE:
            SSL_CTX_set_custom_verify(ctx, SSL_VERIFY_PEER, verify_none);
            break;
        }
    }
    ERR_clear_error();
    if (!ok) {
        pt_tls_client_ctx_free(cc);
        return err;
    }
    *out = cc;
    return 0;
}

void pt_tls_client_ctx_free(pt_tls_client_ctx *cc)
{
    if (!cc || --cc->base.refs > 0) {
        return;
    }
    for (size_t i = 0; i < TLS_SESSION_CACHE_SIZE; i++) {
        if (cc->cache[i].key) {
            cache_remove(&cc->cache[i]);
        }
    }
    SSL_CTX_free(cc->base.ssl_ctx);
    OPENSSL_cleanse(cc->pins, sizeof(cc->pins));
    free(cc);
}

int pt_tls_client_new(pt_transport **out, pt_tls_client_ctx *cc, pt_transport *lower,
                      const char *server_name, pt_tls_handshake_cb cb, void *arg)
{
    *out = NULL;
    if (!server_name && cc->verify == PT_TLS_VERIFY_SYSTEM) {
        return UV_EINVAL;
    }
    if (server_name && (!server_name[0] || strlen(server_name) > 253)) {
        return UV_EINVAL;
    }
    tls_conn *c = conn_new(&cc->base, lower, cb, arg);
    if (!c) {
        return UV_ENOMEM;
    }
    SSL *ssl = c->ssl;
    int ip = server_name && is_ip_literal(server_name);
    int ok = 1;
    if (server_name) {
        ok = (c->server_name = strdup(server_name)) != NULL;
    }
    SSL_set_connect_state(ssl);
    SSL_set_enable_ech_grease(ssl, 1);
    ok = ok && SSL_add_application_settings(ssl, (const uint8_t *)"h2", 2, kChromeH2Settings,
                                            sizeof(kChromeH2Settings));
#ifdef TLS_PROFILE_NEW_ALPS
    SSL_set_alps_use_new_codepoint(ssl, 1);
#endif
    if (ok && server_name && !ip) {
        ok = SSL_set_tlsext_host_name(ssl, server_name);
    }
    if (ok && cc->verify == PT_TLS_VERIFY_SYSTEM) {
        ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), server_name)
                : SSL_set1_host(ssl, server_name);
    }
    if (ok && server_name && !cc->no_session_cache) {
        session_entry *e = cache_find(cc, server_name);
        if (e) {
            ok = SSL_set_session(ssl, e->sess);
            /* TLS 1.3 tickets are used once (RFC 8446 C.4), as Chrome does. */
            if (SSL_SESSION_should_be_single_use(e->sess)) {
                cache_remove(e);
            }
        }
    }
    if (ok) {
        /* Write the ClientHello into |out|; nothing to read yet. */
        int r = SSL_do_handshake(ssl);
        ok = r == 1 || SSL_get_error(ssl, r) == SSL_ERROR_WANT_READ;
    }
    ERR_clear_error();
    if (!ok) {
        conn_abort(c);
        return UV_ENOMEM;
    }
    int rc = conn_start(c);
    if (rc != 0) {
        conn_abort(c);
        return rc;
    }
    *out = &c->t;
    return 0;
}

/* ---- server ------------------------------------------------------------------------ */

/* nginx (ngx_http_ssl_alpn_select): the first of the server's protocols the
 * client offers; none in common is a fatal no_application_protocol. */
static int alpn_select(SSL *ssl, const uint8_t **out, uint8_t *out_len, const uint8_t *in,
                       unsigned in_len, void *arg)
{
    (void)ssl;
    const pt_tls_server_ctx *sc = arg;
    CBS ours, ours_p, theirs, theirs_p;
    CBS_init(&ours, sc->alpn, sc->alpn_len);
    while (CBS_get_u8_length_prefixed(&ours, &ours_p)) {
        CBS_init(&theirs, in, in_len);
        while (CBS_get_u8_length_prefixed(&theirs, &theirs_p)) {
            if (CBS_len(&theirs_p) == CBS_len(&ours_p) &&
                memcmp(CBS_data(&theirs_p), CBS_data(&ours_p), CBS_len(&ours_p)) == 0) {
                *out = CBS_data(&ours_p);
                *out_len = (uint8_t)CBS_len(&ours_p);
                return SSL_TLSEXT_ERR_OK;
            }
        }
    }
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* "h2,http/1.1" -> wire format. */
static int alpn_parse(uint8_t *out, size_t cap, size_t *out_len, const char *list)
{
    size_t n = 0;
    const char *p = list;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 0 || len > 255 || n + 1 + len > cap) {
            return 0;
        }
        out[n++] = (uint8_t)len;
        memcpy(out + n, p, len);
        n += len;
        p += len + (e ? 1 : 0);
        if (e && !*p) {
            return 0; /* trailing comma */
        }
    }
    *out_len = n;
    return 1;
}

int pt_tls_server_ctx_new(pt_tls_server_ctx **out, const pt_tls_server_config *cfg)
{
    *out = NULL;
    if (!cfg->cert_file || !cfg->key_file) {
        return PT_ERR_CONFIG;
    }
    uint16_t minv = cfg->min_version ? cfg->min_version : TLS1_2_VERSION;
    uint16_t maxv = cfg->max_version ? cfg->max_version : TLS1_3_VERSION;
    if ((minv != TLS1_2_VERSION && minv != TLS1_3_VERSION) ||
        (maxv != TLS1_2_VERSION && maxv != TLS1_3_VERSION) || minv > maxv) {
        return PT_ERR_CONFIG;
    }
    pt_tls_server_ctx *sc = calloc(1, sizeof(*sc));
    if (!sc) {
        return PT_ERR_NOMEM;
    }
    sc->base.refs = 1;
    sc->base.is_server = 1;
    /* nginx's list (NGX_HTTP_V2_ALPN_PROTO NGX_HTTP_ALPN_PROTOS): it also
     * takes "http/1.0" and "http/0.9" (measured: probe tls-alpn-http10). */
    const char *alpn = cfg->alpn ? cfg->alpn : "h2,http/1.1,http/1.0,http/0.9";
    if (!alpn_parse(sc->alpn, sizeof(sc->alpn), &sc->alpn_len, alpn)) {
        free(sc);
        return PT_ERR_CONFIG;
    }
    SSL_CTX *ctx = sc->base.ssl_ctx = SSL_CTX_new(TLS_method());
    if (!ctx) {
        free(sc);
        ERR_clear_error();
        return PT_ERR_NOMEM;
    }
    int err = PT_ERR_CONFIG;
    int ok = SSL_CTX_set_min_proto_version(ctx, minv) && SSL_CTX_set_max_proto_version(ctx, maxv) &&
             SSL_CTX_use_certificate_chain_file(ctx, cfg->cert_file) &&
             SSL_CTX_use_PrivateKey_file(ctx, cfg->key_file, SSL_FILETYPE_PEM) &&
             SSL_CTX_check_private_key(ctx);
    if (ok && cfg->cert_compression) {
        ok = SSL_CTX_add_cert_compression_alg(ctx, TLSEXT_cert_compression_brotli, brotli_compress,
                                              NULL);
        err = PT_ERR_CRYPTO;
    }
    if (ok) {
        /* TLS 1.2 as Debian's nginx: OpenSSL's "HIGH:!aNULL:!MD5" (nginx's
         * default ssl_ciphers) in OpenSSL's order, less what BoringSSL lacks
         * (DHE, CCM, ARIA, Camellia, CBC-SHA256/384), chosen in that order
         * (ssl_prefer_server_ciphers on): a client that lists ChaCha20 or
         * AES-128 first still gets AES-256-GCM, as from nginx (probes
         * tls12-ciphers-*). TLS 1.3 suites are not configurable in BoringSSL:
         * SECURITY.md R14. */
        ok = SSL_CTX_set_strict_cipher_list(
            ctx, "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                 "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
                 "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                 "ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES256-SHA:ECDHE-ECDSA-AES128-SHA:"
                 "ECDHE-RSA-AES128-SHA:AES256-GCM-SHA384:AES128-GCM-SHA256:AES256-SHA:"
                 "AES128-SHA");
        SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    }
    if (ok) {
        if (sc->alpn_len) {
            SSL_CTX_set_alpn_select_cb(ctx, alpn_select, sc);
        }
        if (cfg->no_tickets) {
            SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
            SSL_CTX_set_num_tickets(ctx, 0);
        }
    }
    ERR_clear_error();
    if (!ok) {
        pt_tls_server_ctx_free(sc);
        return err;
    }
    *out = sc;
    return 0;
}

void pt_tls_server_ctx_free(pt_tls_server_ctx *sc)
{
    if (!sc || --sc->base.refs > 0) {
        return;
    }
    SSL_CTX_free(sc->base.ssl_ctx);
    free(sc->cc_in);
    free(sc->cc_out);
    free(sc);
}

int pt_tls_server_new(pt_transport **out, pt_tls_server_ctx *sc, pt_transport *lower,
                      pt_tls_handshake_cb cb, void *arg)
{
    *out = NULL;
    tls_conn *c = conn_new(&sc->base, lower, cb, arg);
    if (!c) {
        return UV_ENOMEM;
    }
    SSL_set_accept_state(c->ssl);
    int rc = conn_start(c);
    if (rc != 0) {
        conn_abort(c);
        return rc;
    }
    *out = &c->t;
    return 0;
}

/* ---- queries ---------------------------------------------------------------------- */

int pt_tls_is_tls(const pt_transport *t) { return t && t->ops == &tls_ops; }

void pt_tls_server_set_raw_fallback(pt_transport *t, pt_tls_raw_cb cb, void *arg)
{
    tls_conn *c = conn_of(t);
    c->raw_cb = cb;
    c->raw_arg = arg;
}

pt_transport *pt_tls_lower(pt_transport *t) { return conn_of(t)->lower; }

int pt_tls_handshake_done(const pt_transport *t) { return cconn_of(t)->hs_ok; }

size_t pt_tls_alpn(const pt_transport *t, const uint8_t **out)
{
    unsigned len = 0;
    *out = NULL;
    SSL_get0_alpn_selected(cconn_of(t)->ssl, out, &len);
    return len;
}

uint16_t pt_tls_version(const pt_transport *t)
{
    const tls_conn *c = cconn_of(t);
    return c->state == TLS_HANDSHAKE ? 0 : (uint16_t)SSL_version(c->ssl);
}

uint16_t pt_tls_cipher(const pt_transport *t)
{
    const SSL_CIPHER *ci = SSL_get_current_cipher(cconn_of(t)->ssl);
    return ci ? SSL_CIPHER_get_protocol_id(ci) : 0;
}

uint16_t pt_tls_group(const pt_transport *t) { return SSL_get_curve_id(cconn_of(t)->ssl); }

int pt_tls_session_reused(const pt_transport *t) { return SSL_session_reused(cconn_of(t)->ssl); }

int pt_tls_cert_compressed(const pt_transport *t) { return cconn_of(t)->cert_compressed; }

const char *pt_tls_server_name(const pt_transport *t)
{
    const tls_conn *c = cconn_of(t);
    return c->is_server ? SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name) : c->server_name;
}

const char *pt_tls_error_string(const pt_transport *t) { return cconn_of(t)->errstr; }

/* ---- helpers ----------------------------------------------------------------------- */

int pt_tls_spki_sha256_der(uint8_t out[PT_TLS_PIN_LEN], const uint8_t *der, size_t der_len)
{
    /* RFC 5280 §4.1: Certificate ::= SEQUENCE { tbsCertificate, ... };
     * TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber,
     * signature, issuer, validity, subject, subjectPublicKeyInfo, ... } */
    CBS cbs, cert, tbs, spki;
    CBS_init(&cbs, der, der_len);
    if (!CBS_get_asn1(&cbs, &cert, CBS_ASN1_SEQUENCE) || CBS_len(&cbs) != 0 ||
        !CBS_get_asn1(&cert, &tbs, CBS_ASN1_SEQUENCE) ||
        !CBS_get_optional_asn1(&tbs, NULL, NULL, CBS_ASN1_CONSTRUCTED | CBS_ASN1_CONTEXT_SPECIFIC | 0) ||
        !CBS_get_asn1(&tbs, NULL, CBS_ASN1_INTEGER) ||
        !CBS_get_asn1(&tbs, NULL, CBS_ASN1_SEQUENCE) || /* signature */
        !CBS_get_asn1(&tbs, NULL, CBS_ASN1_SEQUENCE) || /* issuer */
        !CBS_get_asn1(&tbs, NULL, CBS_ASN1_SEQUENCE) || /* validity */
        !CBS_get_asn1(&tbs, NULL, CBS_ASN1_SEQUENCE) || /* subject */
        !CBS_get_asn1_element(&tbs, &spki, CBS_ASN1_SEQUENCE)) {
        return PT_ERR_PROTO;
    }
    SHA256(CBS_data(&spki), CBS_len(&spki), out);
    return 0;
}

int pt_tls_spki_sha256_file(uint8_t out[PT_TLS_PIN_LEN], const char *cert_pem_path)
{
    BIO *bio = BIO_new_file(cert_pem_path, "r");
    if (!bio) {
        ERR_clear_error();
        return PT_ERR_CONFIG;
    }
    X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (!x) {
        ERR_clear_error();
        return PT_ERR_PROTO;
    }
    uint8_t *der = NULL;
    int len = i2d_X509(x, &der);
    X509_free(x);
    int rc = len > 0 ? pt_tls_spki_sha256_der(out, der, (size_t)len) : PT_ERR_PROTO;
    OPENSSL_free(der);
    ERR_clear_error();
    return rc;
}

static int hostname_ok(const char *h)
{
    size_t n = strlen(h);
    if (n == 0 || n > 253) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = h[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '.' || ch == ':')) {
            return 0;
        }
    }
    return 1;
}

static int write_file(const char *path, const uint8_t *p, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) {
        return PT_ERR_IO;
    }
    /* An existing file keeps its mode through O_CREAT: set ours first. */
    int rc = fchmod(fd, mode) == 0 ? 0 : PT_ERR_IO;
    while (rc == 0 && len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            rc = PT_ERR_IO;
            break;
        }
        p += w;
        len -= (size_t)w;
    }
    if (close(fd) != 0 && rc == 0) {
        rc = PT_ERR_IO;
    }
    return rc;
}

static int bio_to_file(BIO *bio, const char *path, mode_t mode)
{
    const uint8_t *p;
    size_t len;
    if (!BIO_mem_contents(bio, &p, &len)) {
        return PT_ERR_CRYPTO;
    }
    return write_file(path, p, len, mode);
}

/* subjectAltName with one dNSName or iPAddress. */
static int add_san(X509 *x, const char *host)
{
    uint8_t ip[16];
    int ip_len = inet_pton(AF_INET, host, ip) == 1 ? 4 : inet_pton(AF_INET6, host, ip) == 1 ? 16 : 0;
    GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
    GENERAL_NAME *gn = GENERAL_NAME_new();
    int ok = names && gn;
    if (ok && ip_len) {
        ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
        ok = os && ASN1_OCTET_STRING_set(os, ip, ip_len);
        if (ok) {
            GENERAL_NAME_set0_value(gn, GEN_IPADD, os);
        } else {
            ASN1_OCTET_STRING_free(os);
        }
    } else if (ok) {
        ASN1_IA5STRING *s = ASN1_IA5STRING_new();
        ok = s && ASN1_STRING_set(s, host, (ossl_ssize_t)strlen(host));
        if (ok) {
            GENERAL_NAME_set0_value(gn, GEN_DNS, s);
        } else {
            ASN1_IA5STRING_free(s);
        }
    }
    if (ok) {
        ok = sk_GENERAL_NAME_push(names, gn) != 0;
        if (ok) {
            gn = NULL;
        }
    }
    ok = ok && X509_add1_ext_i2d(x, NID_subject_alt_name, names, 0, 0);
    GENERAL_NAME_free(gn);
    GENERAL_NAMES_free(names);
    return ok;
}

static int add_leaf_extensions(X509 *x)
{
    /* No keyUsage: with one that lacks keyCertSign, X.509 path building
     * refuses the certificate as its own issuer, so it could not be used as
     * a trust anchor (PT_TLS_VERIFY_SYSTEM with ca_file = this file). */
    BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
    EXTENDED_KEY_USAGE *eku = sk_ASN1_OBJECT_new_null();
    int ok = bc && eku;
    if (ok) {
        bc->ca = 0;
        ok = X509_add1_ext_i2d(x, NID_basic_constraints, bc, 1, 0) &&
             sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_server_auth)) &&
             X509_add1_ext_i2d(x, NID_ext_key_usage, eku, 0, 0);
    }
    BASIC_CONSTRAINTS_free(bc);
    sk_ASN1_OBJECT_free(eku); /* OBJ_nid2obj objects are static */
    return ok;
}

int pt_tls_selfsigned_generate(const char *cert_path, const char *key_path, const char *hostname)
{
    if (!cert_path || !key_path || !hostname || !hostname_ok(hostname)) {
        return PT_ERR_INVAL;
    }
    int rc = PT_ERR_CRYPTO;
    EVP_PKEY *pkey = EVP_PKEY_new();
    EC_KEY *ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
    X509 *x = X509_new();
    BIGNUM *serial = BN_new();
    BIO *cert_bio = BIO_new(BIO_s_mem());
    BIO *key_bio = BIO_new(BIO_s_mem());
    uint8_t sn[16];
    if (!pkey || !ec || !x || !serial || !cert_bio || !key_bio || !EC_KEY_generate_key(ec) ||
        !EVP_PKEY_assign_EC_KEY(pkey, ec)) {
        goto out;
    }
    ec = NULL; /* owned by pkey */
    RAND_bytes(sn, sizeof(sn));
    sn[0] &= 0x7f; /* positive, and 16 bytes like a CA's */
    sn[0] |= 0x01;
    X509_NAME *name = X509_get_subject_name(x);
    if (!X509_set_version(x, X509_VERSION_3) || !BN_bin2bn(sn, sizeof(sn), serial) ||
        !BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) ||
        !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), 365L * 24 * 3600 - 3600) ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const uint8_t *)hostname, -1, -1, 0) ||
        !X509_set_issuer_name(x, name) || !X509_set_pubkey(x, pkey) || !add_san(x, hostname) ||
        !add_leaf_extensions(x) || !X509_sign(x, pkey, EVP_sha256()) ||
        !PEM_write_bio_X509(cert_bio, x) ||
        !PEM_write_bio_PrivateKey(key_bio, pkey, NULL, NULL, 0, NULL, NULL)) {
        goto out;
    }
    rc = bio_to_file(key_bio, key_path, 0600);
    if (rc == 0) {
        rc = bio_to_file(cert_bio, cert_path, 0644);
    }
out:
    ERR_clear_error();
    OPENSSL_cleanse(sn, sizeof(sn));
    EC_KEY_free(ec);
    EVP_PKEY_free(pkey);
    X509_free(x);
    BN_free(serial);
    BIO_free(cert_bio);
    BIO_free(key_bio); /* BoringSSL's free wipes the key PEM */
    return rc;
}
