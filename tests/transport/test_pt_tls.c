/* test_pt_tls.c — TLS transport (transport/pt_tls.c) over TCP on 127.0.0.1:
 * handshake with a freshly generated self-signed certificate, several MiB
 * each way byte for byte with half-close (close_notify -> on_eof(0)), one
 * record per on_read, read back-pressure, the three verification modes,
 * ALPN as nginx chooses it, brotli certificate compression, resumption, a
 * TLS 1.2-only client, garbage instead of a ClientHello, and close during the
 * handshake. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pt_err.h"
#include "pt_pipe.h"
#include "pt_tcp.h"
#include "pt_tls.h"

#define BULK (4u << 20) /* 4 MiB each way */
#define CHUNK 10000

static char g_dir[64];
static char g_cert[128], g_key[128];
static uint8_t g_pin[PT_TLS_PIN_LEN];

/* ---- one side of a connection ------------------------------------------------ */

typedef struct side {
    pt_transport *t;
    const uint8_t *expect; /* what the peer sends */
    size_t expect_len, got;
    size_t reads;
    int eof, eof_err;
    int hs_called, hs_status;
    int writes_started, writes_done, write_err;
    int shutdown_after_writes;
    int shutdown_after_read; /* ... and only once all the peer's data is in */
    int shut;
    int pause_every; /* read_stop every Nth read, resume from a timer */
    uv_timer_t resume;
    int resume_inited;
    size_t first_read_len;
    char alpn[32];
    uint16_t version, group;
    int reused, compressed;
    char err[256];
    struct harness *h;
} side;

typedef struct harness {
    uv_loop_t loop;
    pt_tcp_listener *l;
    pt_tls_server_ctx *sctx;
    pt_tls_client_ctx *cctx;
    const char *sni;
    side c, s;
    uint8_t *data_c, *data_s; /* client sends data_c, server sends data_s */
    size_t len_c, len_s;
    int garbage; /* client speaks raw TCP garbage instead of TLS */
    int close_in_handshake;
    int closed;
} harness;

static void side_record_hs(side *x)
{
    const uint8_t *p;
    size_t n = pt_tls_alpn(x->t, &p);
    assert_true(n < sizeof(x->alpn));
    if (n) {
        memcpy(x->alpn, p, n);
    }
    x->alpn[n] = 0;
    x->version = pt_tls_version(x->t);
    x->group = pt_tls_group(x->t);
    x->reused = pt_tls_session_reused(x->t);
    x->compressed = pt_tls_cert_compressed(x->t);
}

static void maybe_shutdown(side *x);

static void on_resume(uv_timer_t *tm)
{
    side *x = tm->data;
    if (x->t) {
        assert_int_equal(pt_transport_read_start(x->t), 0);
    }
}

static void on_read(pt_transport *t, const uint8_t *p, size_t n)
{
    side *x = t->data;
    assert_true(n > 0 && n <= 16384); /* one record at most */
    if (x->reads == 0) {
        x->first_read_len = n;
    }
    x->reads++;
    if (!x->expect) { /* the raw TCP prober: whatever the server says */
        x->got += n;
        return;
    }
    assert_true(x->got + n <= x->expect_len);
    assert_memory_equal(p, x->expect + x->got, n);
    x->got += n;
    if (x->shutdown_after_read) {
        maybe_shutdown(x);
    }
    if (x->pause_every && x->reads % (size_t)x->pause_every == 0) {
        assert_int_equal(pt_transport_read_stop(t), 0);
        uv_timer_start(&x->resume, on_resume, 1, 0);
    }
}

/* Half-close once our writes are done (and, if asked, the peer's data in). */
static void maybe_shutdown(side *x)
{
    if (x->shutdown_after_writes && !x->shut && x->writes_done == x->writes_started &&
        !x->write_err && (!x->shutdown_after_read || x->got == x->expect_len)) {
        x->shut = 1;
        assert_int_equal(pt_transport_shutdown(x->t), 0);
    }
}

static void on_eof(pt_transport *t, int err)
{
    side *x = t->data;
    x->eof++;
    x->eof_err = err;
    if (err != 0) {
        snprintf(x->err, sizeof(x->err), "%s", pt_tls_error_string(t));
    }
}

static void on_written(pt_transport *t, int status, void *arg)
{
    (void)arg;
    side *x = t->data;
    if (status != 0) {
        x->write_err = status;
    }
    x->writes_done++;
    maybe_shutdown(x);
}

/* Write |data| in writes of 3 buffers each, and one big single buffer at
 * the end (the in-place path of the record coalescing). */
static void send_all(side *x, const uint8_t *data, size_t total)
{
    static uv_buf_t bufs[2][BULK / CHUNK + 2][3];
    static int which;
    uv_buf_t(*b)[3] = bufs[which++ & 1];
    size_t off = 0, big = total / 4;
    unsigned i = 0;
    while (off < total - big) {
        size_t n = total - big - off < CHUNK ? total - big - off : CHUNK;
        size_t a = n / 3, m = n / 3, c = n - a - m;
        b[i][0] = uv_buf_init((char *)data + off, (unsigned)a);
        b[i][1] = uv_buf_init((char *)data + off + a, (unsigned)m);
        b[i][2] = uv_buf_init((char *)data + off + a + m, (unsigned)c);
        x->writes_started++;
        assert_int_equal(pt_transport_write(x->t, b[i], 3, on_written, NULL), 0);
        off += n;
        i++;
    }
    if (big) {
        b[i][0] = uv_buf_init((char *)data + off, (unsigned)big);
        x->writes_started++;
        assert_int_equal(pt_transport_write(x->t, b[i], 1, on_written, NULL), 0);
    }
}

static void hs_done(pt_transport *t, int status, void *arg)
{
    side *x = arg;
    x->hs_called++;
    x->hs_status = status;
    if (status == 0) {
        assert_true(pt_tls_handshake_done(t));
        side_record_hs(x);
    } else {
        snprintf(x->err, sizeof(x->err), "%s", pt_tls_error_string(t));
    }
}

static void side_attach(side *x, pt_transport *t, harness *h)
{
    x->t = t;
    x->h = h;
    t->data = x;
    t->on_read = on_read;
    t->on_eof = on_eof;
    assert_int_equal(pt_transport_read_start(t), 0);
}

static void on_accept(pt_tcp_listener *l, pt_transport *lower, void *arg)
{
    (void)l;
    harness *h = arg;
    pt_transport *t;
    assert_int_equal(pt_tls_server_new(&t, h->sctx, lower, hs_done, &h->s), 0);
    assert_true(pt_tls_is_tls(t));
    side_attach(&h->s, t, h);
    if (h->len_s) {
        send_all(&h->s, h->data_s, h->len_s); /* queued until the handshake is done */
    }
}

static void on_connect(pt_transport *lower, int status, void *arg)
{
    harness *h = arg;
    assert_int_equal(status, 0);
    if (h->garbage) {
        /* An HTTP request where a ClientHello should be: a probe. */
        static const char req[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
        static uv_buf_t b;
        b = uv_buf_init((char *)req, sizeof(req) - 1);
        side_attach(&h->c, lower, h);
        h->c.expect = NULL;
        h->c.writes_started++;
        assert_int_equal(pt_transport_write(lower, &b, 1, on_written, NULL), 0);
        return;
    }
    pt_transport *t;
    assert_int_equal(pt_tls_client_new(&t, h->cctx, lower, h->sni, hs_done, &h->c), 0);
    side_attach(&h->c, t, h);
    if (h->len_c) {
        send_all(&h->c, h->data_c, h->len_c); /* before the handshake: queued */
    }
    if (h->close_in_handshake) {
        pt_transport_close(t, NULL);
        h->c.t = NULL;
    }
}

/* Close both ends once both are finished (checked from an idle turn). */
static int side_finished(const side *x)
{
    if (x->h && x->h->garbage && x == &x->h->c) {
        return x->writes_done == x->writes_started; /* it never sees the end */
    }
    return !x->t || ((x->eof || (x->hs_called && x->hs_status != 0)) &&
                     x->writes_done == x->writes_started);
}

static void closer(uv_idle_t *idle)
{
    harness *h = idle->data;
    if ((h->s.t || h->closed) && side_finished(&h->c) && side_finished(&h->s)) {
        if (h->c.t) {
            pt_transport_close(h->c.t, NULL);
        }
        if (h->s.t) {
            pt_transport_close(h->s.t, NULL);
        }
        pt_tcp_listener_close(h->l);
        h->l = NULL;
        if (h->c.resume_inited) {
            uv_close((uv_handle_t *)&h->c.resume, NULL);
        }
        if (h->s.resume_inited) {
            uv_close((uv_handle_t *)&h->s.resume, NULL);
        }
        uv_idle_stop(idle);
        uv_close((uv_handle_t *)idle, NULL);
    }
}

static void harness_init(harness *h, size_t len_c, size_t len_s)
{
    memset(h, 0, sizeof(*h));
    assert_int_equal(uv_loop_init(&h->loop), 0);
    h->len_c = len_c;
    h->len_s = len_s;
    h->data_c = malloc(len_c ? len_c : 1);
    h->data_s = malloc(len_s ? len_s : 1);
    randombytes_buf(h->data_c, len_c);
    randombytes_buf(h->data_s, len_s);
    h->c.expect = h->data_s;
    h->c.expect_len = len_s;
    h->s.expect = h->data_c;
    h->s.expect_len = len_c;
    h->c.shutdown_after_writes = h->s.shutdown_after_writes = 1;
    h->sni = "localhost";
    uv_timer_init(&h->loop, &h->c.resume);
    uv_timer_init(&h->loop, &h->s.resume);
    h->c.resume.data = &h->c;
    h->s.resume.data = &h->s;
    h->c.resume_inited = h->s.resume_inited = 1;
}

static void harness_run(harness *h)
{
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", 0, &sa);
    assert_int_equal(pt_tcp_listen(&h->loop, (struct sockaddr *)&sa, 16, on_accept, h, &h->l), 0);
    sa.sin_port = htons((uint16_t)pt_tcp_listener_port(h->l));
    assert_int_equal(pt_tcp_connect(&h->loop, (struct sockaddr *)&sa, on_connect, h), 0);
    uv_idle_t idle;
    uv_idle_init(&h->loop, &idle);
    idle.data = h;
    uv_idle_start(&idle, closer);
    uv_run(&h->loop, UV_RUN_DEFAULT);
}

static void harness_free(harness *h)
{
    free(h->data_c);
    free(h->data_s);
    assert_int_equal(uv_loop_close(&h->loop), 0);
}

static pt_tls_server_ctx *server_ctx(const char *alpn, int compression)
{
    pt_tls_server_config cfg = {.cert_file = g_cert, .key_file = g_key, .alpn = alpn,
                                .cert_compression = compression};
    pt_tls_server_ctx *s;
    assert_int_equal(pt_tls_server_ctx_new(&s, &cfg), 0);
    return s;
}

static pt_tls_client_ctx *client_ctx(pt_tls_verify_mode mode, const uint8_t *pin, uint16_t maxv)
{
    pt_tls_client_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.verify = mode;
    cfg.max_version = maxv;
    if (pin) {
        memcpy(cfg.pins[0], pin, PT_TLS_PIN_LEN);
        cfg.n_pins = 1;
    }
    pt_tls_client_ctx *c;
    assert_int_equal(pt_tls_client_ctx_new(&c, &cfg), 0);
    return c;
}

/* Runs one connection with the given contexts and sizes; the caller checks. */
static void run_one(harness *h, pt_tls_client_ctx *cc, pt_tls_server_ctx *sc)
{
    h->cctx = cc;
    h->sctx = sc;
    harness_run(h);
}

static void expect_clean(const harness *h)
{
    if (h->c.hs_status || h->s.hs_status || h->c.eof_err || h->s.eof_err) {
        fprintf(stderr, "client: hs %d eof %d %s\nserver: hs %d eof %d %s\n", h->c.hs_status,
                h->c.eof_err, h->c.err, h->s.hs_status, h->s.eof_err, h->s.err);
    }
    assert_int_equal(h->c.hs_called, 1);
    assert_int_equal(h->s.hs_called, 1);
    assert_int_equal(h->c.hs_status, 0);
    assert_int_equal(h->s.hs_status, 0);
    assert_int_equal(h->c.got, h->len_s);
    assert_int_equal(h->s.got, h->len_c);
    assert_int_equal(h->c.eof, 1);
    assert_int_equal(h->s.eof, 1);
    assert_int_equal(h->c.eof_err, 0); /* close_notify */
    assert_int_equal(h->s.eof_err, 0);
    assert_int_equal(h->c.writes_done, h->c.writes_started);
    assert_int_equal(h->s.writes_done, h->s.writes_started);
    assert_int_equal(h->c.write_err, 0);
    assert_int_equal(h->s.write_err, 0);
}

/* ---- tests --------------------------------------------------------------------- */

static void test_selfsigned(void **state)
{
    (void)state;
    struct stat st;
    assert_int_equal(stat(g_key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(g_cert, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    uint8_t pin2[PT_TLS_PIN_LEN];
    assert_int_equal(pt_tls_spki_sha256_file(pin2, g_cert), 0);
    assert_memory_equal(pin2, g_pin, sizeof(pin2));
    assert_int_equal(pt_tls_spki_sha256_file(pin2, g_key), PT_ERR_PROTO);
    assert_int_equal(pt_tls_spki_sha256_file(pin2, "/nonexistent/cert.pem"), PT_ERR_CONFIG);
    assert_int_equal(pt_tls_selfsigned_generate(g_cert, g_key, "bad,name"), PT_ERR_INVAL);
    assert_int_equal(pt_tls_selfsigned_generate(g_cert, g_key, ""), PT_ERR_INVAL);
    static const uint8_t junk[] = {0x30, 0x03, 0x02, 0x01, 0x00};
    assert_int_equal(pt_tls_spki_sha256_der(pin2, junk, sizeof(junk)), PT_ERR_PROTO);
    /* An IP literal becomes an iPAddress SAN; the result loads as a server. */
    char c2[160], k2[160];
    snprintf(c2, sizeof(c2), "%s/ip.crt", g_dir);
    snprintf(k2, sizeof(k2), "%s/ip.key", g_dir);
    assert_int_equal(pt_tls_selfsigned_generate(c2, k2, "127.0.0.1"), 0);
    pt_tls_server_config cfg = {.cert_file = c2, .key_file = g_key};
    pt_tls_server_ctx *s = NULL;
    assert_int_equal(pt_tls_server_ctx_new(&s, &cfg), PT_ERR_CONFIG); /* key mismatch */
    cfg.key_file = k2;
    assert_int_equal(pt_tls_server_ctx_new(&s, &cfg), 0);
    pt_tls_server_ctx_free(s);
    cfg.alpn = "h2,";
    assert_int_equal(pt_tls_server_ctx_new(&s, &cfg), PT_ERR_CONFIG);
    pt_tls_client_config cc;
    memset(&cc, 0, sizeof(cc));
    cc.verify = PT_TLS_VERIFY_PIN; /* no pins */
    pt_tls_client_ctx *c = NULL;
    assert_int_equal(pt_tls_client_ctx_new(&c, &cc), PT_ERR_CONFIG);
    cc.verify = PT_TLS_VERIFY_SYSTEM;
    cc.ca_file = "/nonexistent/ca.pem";
    assert_int_equal(pt_tls_client_ctx_new(&c, &cc), PT_ERR_CONFIG);
}

/* 4 MiB each way, written before and after the handshake, a reader that
 * pauses, half-close on each side once its writes are done. */
static void test_bulk_pinned(void **state)
{
    (void)state;
    harness h;
    harness_init(&h, BULK, BULK);
    h.s.pause_every = 37;
    h.c.pause_every = 53;
    pt_tls_client_ctx *cc = client_ctx(PT_TLS_VERIFY_PIN, g_pin, 0);
    pt_tls_server_ctx *sc = server_ctx(NULL, 1);
    run_one(&h, cc, sc);
    expect_clean(&h);
    assert_string_equal(h.c.alpn, "h2");
    assert_string_equal(h.s.alpn, "h2");
    assert_int_equal(h.c.version, PT_TLS_VERSION_1_3);
    assert_int_equal(h.s.version, PT_TLS_VERSION_1_3);
    assert_int_equal(h.c.group, 0x001d); /* server without Kyber: x25519 */
    assert_true(h.c.compressed);         /* brotli certificate, both ends */
    assert_true(h.s.compressed);
    assert_false(h.c.reused);
    /* The first write (10000 bytes in 3 buffers) is the first record, whole. */
    assert_int_equal(h.s.first_read_len, CHUNK);
    assert_true(h.s.reads >= BULK / 16384);
    harness_free(&h);
    pt_tls_client_ctx_free(cc);
    pt_tls_server_ctx_free(sc);
}

/* Two connections through one client context: the second resumes (a TLS 1.3
 * ticket, used once); without compression on the server, none is used. */
static void test_resumption_and_no_compression(void **state)
{
    (void)state;
    pt_tls_client_ctx *cc = client_ctx(PT_TLS_VERIFY_PIN, g_pin, 0);
    pt_tls_server_ctx *sc = server_ctx(NULL, 0);
    for (int i = 0; i < 2; i++) {
        harness h;
        harness_init(&h, 3000, 70000);
        /* BoringSSL ignores TLS 1.3 tickets that arrive after the client's
         * close_notify: keep the write side open until the data is in. */
        h.c.shutdown_after_read = 1;
        run_one(&h, cc, sc);
        expect_clean(&h);
        assert_int_equal(h.c.reused, i == 1);
        assert_int_equal(h.s.reused, i == 1);
        assert_false(h.c.compressed);
        assert_false(h.s.compressed);
        harness_free(&h);
    }
    pt_tls_client_ctx_free(cc);
    pt_tls_server_ctx_free(sc);
}

static void expect_verify_failure(harness *h, const char *why)
{
    printf("  client: %s\n  server: %s\n", h->c.err, h->s.err);
    assert_int_equal(h->c.hs_called, 1);
    assert_true(h->c.hs_status < 0);
    assert_int_equal(h->c.eof, 1);
    assert_int_equal(h->c.eof_err, h->c.hs_status);
    assert_int_equal(h->c.got, 0);
    assert_non_null(strstr(h->c.err, why));
    /* The server saw the client's alert, never application data. */
    assert_int_equal(h->s.got, 0);
    assert_true(h->s.eof_err < 0);
    /* Writes queued during the handshake were failed, each once. */
    assert_int_equal(h->c.writes_done, h->c.writes_started);
    assert_true(h->c.write_err < 0);
}

static void test_verify_modes(void **state)
{
    (void)state;
    pt_tls_server_ctx *sc = server_ctx(NULL, 1);
    uint8_t wrong[PT_TLS_PIN_LEN];
    memcpy(wrong, g_pin, sizeof(wrong));
    wrong[7] ^= 1;

    harness h;
    harness_init(&h, 5000, 0);
    pt_tls_client_ctx *cc = client_ctx(PT_TLS_VERIFY_PIN, wrong, 0);
    run_one(&h, cc, sc);
    expect_verify_failure(&h, "pin");
    harness_free(&h);
    pt_tls_client_ctx_free(cc);

    harness_init(&h, 5000, 0);
    cc = client_ctx(PT_TLS_VERIFY_SYSTEM, NULL, 0);
    run_one(&h, cc, sc);
    expect_verify_failure(&h, "certificate");
    harness_free(&h);
    pt_tls_client_ctx_free(cc);

    /* System roots plus our certificate as a trust anchor: passes, and the
     * host name is checked (localhost matches, another name does not). */
    pt_tls_client_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.verify = PT_TLS_VERIFY_SYSTEM;
    cfg.ca_file = g_cert;
    assert_int_equal(pt_tls_client_ctx_new(&cc, &cfg), 0);
    harness_init(&h, 5000, 5000);
    run_one(&h, cc, sc);
    expect_clean(&h);
    harness_free(&h);
    harness_init(&h, 5000, 0);
    h.sni = "www.example.com";
    run_one(&h, cc, sc);
    expect_verify_failure(&h, "certificate");
    harness_free(&h);
    pt_tls_client_ctx_free(cc);

    harness_init(&h, 5000, 5000);
    cc = client_ctx(PT_TLS_VERIFY_NONE, NULL, 0);
    h.sni = NULL; /* no SNI, no name: fine without verification */
    run_one(&h, cc, sc);
    expect_clean(&h);
    harness_free(&h);
    pt_tls_client_ctx_free(cc);

    pt_tls_server_ctx_free(sc);
}

static void test_alpn(void **state)
{
    (void)state;
    pt_tls_client_ctx *cc = client_ctx(PT_TLS_VERIFY_NONE, NULL, 0);
    static const struct {
        const char *server, *expect;
    } cases[] = {{"h2,http/1.1", "h2"}, {"http/1.1,h2", "http/1.1"}, {"http/1.1", "http/1.1"},
                 {"", ""}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pt_tls_server_ctx *sc = server_ctx(cases[i].server, 0);
        harness h;
        harness_init(&h, 100, 100);
        run_one(&h, cc, sc);
        expect_clean(&h);
        assert_string_equal(h.c.alpn, cases[i].expect);
        assert_string_equal(h.s.alpn, cases[i].expect);
        harness_free(&h);
        pt_tls_server_ctx_free(sc);
    }
    /* No protocol in common: nginx's fatal no_application_protocol. */
    pt_tls_server_ctx *sc = server_ctx("spdy/3", 0);
    harness h;
    harness_init(&h, 100, 0);
    run_one(&h, cc, sc);
    assert_true(h.c.hs_status < 0);
    assert_true(h.s.hs_status < 0);
    assert_non_null(strstr(h.c.err, "NO_APPLICATION_PROTOCOL"));
    harness_free(&h);
    pt_tls_server_ctx_free(sc);
    pt_tls_client_ctx_free(cc);
}

static void test_tls12_client(void **state)
{
    (void)state;
    pt_tls_client_ctx *cc = client_ctx(PT_TLS_VERIFY_PIN, g_pin, PT_TLS_VERSION_1_2);
    pt_tls_server_ctx *sc = server_ctx(NULL, 1);
    for (int i = 0; i < 2; i++) {
        harness h;
        harness_init(&h, 300000, 300000);
        run_one(&h, cc, sc);
        expect_clean(&h);
        assert_int_equal(h.c.version, PT_TLS_VERSION_1_2);
        assert_int_equal(h.s.version, PT_TLS_VERSION_1_2);
        assert_string_equal(h.c.alpn, "h2");
        assert_int_equal(h.c.reused, i == 1); /* TLS 1.2 ticket */
        assert_int_equal(h.s.first_read_len, CHUNK);
        harness_free(&h);
    }
    pt_tls_client_ctx_free(cc);
    pt_tls_server_ctx_free(sc);
}

static void test_garbage_client_hello(void **state)
{
    (void)state;
    pt_tls_server_ctx *sc = server_ctx(NULL, 0);
    harness h;
    harness_init(&h, 0, 0);
    h.garbage = 1;
    h.c.shutdown_after_writes = 0;
    run_one(&h, NULL, sc);
    assert_int_equal(h.s.hs_called, 1);
    assert_true(h.s.hs_status < 0);
    assert_int_equal(h.s.eof, 1);
    assert_int_equal(h.s.eof_err, UV_EPROTO);
    assert_int_equal(h.s.got, 0);
    assert_true(strlen(h.s.err) > 0);
    printf("  server: %s (client got %zu bytes back)\n", h.s.err, h.c.got);
    harness_free(&h);
    pt_tls_server_ctx_free(sc);
}

/* Closed with writes queued during the handshake: each is cancelled once. */
static void test_close_in_handshake(void **state)
{
    (void)state;
    pt_tls_client_ctx *cc = client_ctx(PT_TLS_VERIFY_NONE, NULL, 0);
    pt_tls_server_ctx *sc = server_ctx(NULL, 0);
    harness h;
    harness_init(&h, 50000, 0);
    h.close_in_handshake = 1;
    run_one(&h, cc, sc);
    assert_int_equal(h.c.writes_done, h.c.writes_started);
    assert_int_equal(h.c.write_err, UV_ECANCELED);
    assert_int_equal(h.c.hs_called, 0);
    assert_int_equal(h.s.got, 0);
    assert_true(h.s.eof_err < 0); /* reset or truncation during the handshake */
    harness_free(&h);
    pt_tls_client_ctx_free(cc);
    pt_tls_server_ctx_free(sc);
}

/* TLS over the in-memory pipe: nothing but the transport interface below. */
static void test_over_pipe(void **state)
{
    (void)state;
    pt_tls_client_ctx *cc = client_ctx(PT_TLS_VERIFY_PIN, g_pin, 0);
    pt_tls_server_ctx *sc = server_ctx(NULL, 1);
    harness h;
    harness_init(&h, 1u << 20, 1u << 20);
    h.c.pause_every = 7;
    h.cctx = cc;
    h.sctx = sc;
    pt_transport *x, *y, *tc, *ts;
    assert_int_equal(pt_pipe_pair(&h.loop, &x, &y), 0);
    assert_int_equal(pt_tls_client_new(&tc, cc, x, "localhost", hs_done, &h.c), 0);
    assert_int_equal(pt_tls_server_new(&ts, sc, y, hs_done, &h.s), 0);
    side_attach(&h.c, tc, &h);
    side_attach(&h.s, ts, &h);
    send_all(&h.c, h.data_c, h.len_c);
    send_all(&h.s, h.data_s, h.len_s);
    uv_idle_t idle;
    uv_idle_init(&h.loop, &idle);
    idle.data = &h;
    uv_idle_start(&idle, closer);
    uv_run(&h.loop, UV_RUN_DEFAULT);
    expect_clean(&h);
    assert_string_equal(h.c.alpn, "h2");
    assert_true(h.c.compressed);
    harness_free(&h);
    pt_tls_client_ctx_free(cc);
    pt_tls_server_ctx_free(sc);
}

static void test_profile(void **state)
{
    (void)state;
    assert_non_null(strstr(pt_tls_client_profile_name(), "Chrome"));
    assert_int_equal(strlen(pt_tls_client_profile_ja4()), 36);
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof(g_dir), "/tmp/pt_tls_test.XXXXXX");
    if (!mkdtemp(g_dir)) {
        return -1;
    }
    snprintf(g_cert, sizeof(g_cert), "%s/server.crt", g_dir);
    snprintf(g_key, sizeof(g_key), "%s/server.key", g_dir);
    if (pt_tls_selfsigned_generate(g_cert, g_key, "localhost") != 0 ||
        pt_tls_spki_sha256_file(g_pin, g_cert) != 0) {
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    char p[160];
    const char *files[] = {"server.crt", "server.key", "ip.crt", "ip.key"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", g_dir, files[i]);
        unlink(p);
    }
    rmdir(g_dir);
    return 0;
}

int main(void)
{
    if (sodium_init() < 0) {
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_profile),
        cmocka_unit_test(test_selfsigned),
        cmocka_unit_test(test_bulk_pinned),
        cmocka_unit_test(test_over_pipe),
        cmocka_unit_test(test_resumption_and_no_compression),
        cmocka_unit_test(test_verify_modes),
        cmocka_unit_test(test_alpn),
        cmocka_unit_test(test_tls12_client),
        cmocka_unit_test(test_garbage_client_hello),
        cmocka_unit_test(test_close_in_handshake),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
