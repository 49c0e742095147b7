/* test_pt_http_proxy.c — the HTTP proxy request parser: CONNECT and
 * absolute-form requests, the rewritten head, limits, credentials and the
 * responses.
 *
 * Every head is fed all at once, one byte at a time, cut in two at every
 * offset (small heads) and in random chunks; all must agree on the result,
 * the count consumed, the target and the forwarded head. Inputs are
 * exact-size heap copies so ASan flags any read past what was given.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pt_err.h"
#include "pt_frame.h"
#include "pt_http_proxy.h"
#include "pt_proxy_cred.h"

static const pt_proxy_cred kCred = {
    .user = (const uint8_t *)"alice",
    .user_len = 5,
    .pass = (const uint8_t *)"pa:ss", /* ':' is allowed in the password */
    .pass_len = 5,
};
/* base64("alice:pa:ss") */
#define GOOD_AUTH "Proxy-Authorization: Basic YWxpY2U6cGE6c3M=\r\n"

/* ---- helpers ---------------------------------------------------------------- */

typedef struct result {
    int rc;
    size_t consumed;
    pt_http_proxy_kind kind;
    pt_addr target;
    unsigned status;
    size_t fwd_len;
    uint8_t fwd[PT_HTTP_PROXY_FORWARD_MAX];
} result;

static uint64_t rng_state = 0x243f6a8885a308d3ULL;

static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static uint8_t *head_buf(void)
{
    static uint8_t *buf;
    if (!buf) {
        buf = malloc(PT_HTTP_PROXY_HEAD_MAX); /* exact: ASan guards the end */
        assert_non_null(buf);
    }
    return buf;
}

static void feed_cuts(const pt_proxy_cred *auth, const uint8_t *in, size_t n, const size_t *cuts,
                      size_t ncuts, result *r)
{
    static pt_http_proxy p;
    r->rc = PT_ERR_AGAIN;
    r->consumed = 0;
    r->fwd_len = 0;
    assert_int_equal(pt_http_proxy_init(&p, auth, head_buf(), PT_HTTP_PROXY_HEAD_MAX), PT_ERR_OK);
    size_t pos = 0;
    for (size_t k = 0; k <= ncuts && r->rc == PT_ERR_AGAIN; k++) {
        size_t end = k < ncuts ? cuts[k] : n;
        size_t len = end - pos;
        uint8_t *chunk = malloc(len ? len : 1);
        assert_non_null(chunk);
        if (len) {
            memcpy(chunk, in + pos, len);
        }
        size_t used = 12345;
        r->rc = pt_http_proxy_consume(&p, &used, chunk, len);
        free(chunk);
        assert_true(used <= len);
        if (r->rc == PT_ERR_AGAIN) {
            assert_int_equal(used, len);
            assert_true(p.len < PT_HTTP_PROXY_HEAD_MAX);
        }
        r->consumed += used;
        pos = end;
    }
    assert_true(r->rc == PT_ERR_AGAIN || r->rc == PT_ERR_OK || r->rc == PT_ERR_PROTO);
    assert_true(p.len <= PT_HTTP_PROXY_HEAD_MAX);
    r->kind = pt_http_proxy_kind_of(&p);
    r->status = pt_http_proxy_status(&p);
    memset(&r->target, 0, sizeof(r->target));
    if (r->rc == PT_ERR_OK) {
        assert_int_equal(p.state, PT_HTTP_PROXY_DONE);
        assert_true(r->kind == PT_HTTP_PROXY_CONNECT || r->kind == PT_HTTP_PROXY_FORWARD);
        assert_non_null(pt_http_proxy_target(&p));
        r->target = *pt_http_proxy_target(&p);
        assert_int_equal(r->status, 0);
        assert_null(pt_http_proxy_fail_reason(&p));
        int frc = pt_http_proxy_forward_head(&p, r->fwd, sizeof(r->fwd), &r->fwd_len);
        if (r->kind == PT_HTTP_PROXY_FORWARD) {
            assert_int_equal(frc, PT_ERR_OK);
            assert_true(r->fwd_len <= PT_HTTP_PROXY_FORWARD_MAX);
        } else {
            assert_int_equal(frc, PT_ERR_STATE);
        }
    } else if (r->rc == PT_ERR_PROTO) {
        assert_int_equal(p.state, PT_HTTP_PROXY_FAILED);
        assert_non_null(pt_http_proxy_fail_reason(&p));
        assert_null(pt_http_proxy_target(&p));
        assert_int_equal(r->kind, PT_HTTP_PROXY_NONE);
        assert_true(r->status == 400 || r->status == 407 || r->status == 414 || r->status == 431 ||
                    r->status == 505);
        /* The answer can always be built. */
        uint8_t resp[PT_HTTP_PROXY_RESPONSE_MAX];
        size_t rl;
        assert_int_equal(pt_http_proxy_response_encode(resp, sizeof(resp), &rl, r->status,
                                                       pt_http_proxy_fail_reason(&p)),
                         PT_ERR_OK);
    } else {
        assert_int_equal(r->status, 0);
        assert_null(pt_http_proxy_target(&p));
    }
    if (r->rc != PT_ERR_AGAIN) {
        size_t u = 1;
        assert_int_equal(pt_http_proxy_consume(&p, &u, (const uint8_t *)"x", 1), PT_ERR_STATE);
        assert_int_equal(u, 0);
    }
    pt_http_proxy_cleanup(&p);
}

static void assert_same(const result *a, const result *b)
{
    assert_int_equal(a->rc, b->rc);
    assert_int_equal(a->consumed, b->consumed);
    assert_int_equal(a->kind, b->kind);
    assert_int_equal(a->status, b->status);
    assert_memory_equal(&a->target, &b->target, sizeof(a->target));
    assert_int_equal(a->fwd_len, b->fwd_len);
    assert_memory_equal(a->fwd, b->fwd, a->fwd_len);
}

static size_t cuts_buf[PT_HTTP_PROXY_HEAD_MAX + 1024];

/* All at once == byte by byte == (small inputs) every single cut == random
 * chunkings. |r| gets the all-at-once result. */
static void feed(const pt_proxy_cred *auth, const void *in_, size_t n, result *r)
{
    static result other;
    const uint8_t *in = in_;

    feed_cuts(auth, in, n, NULL, 0, r);
    for (size_t i = 1; i < n; i++) {
        cuts_buf[i - 1] = i;
    }
    feed_cuts(auth, in, n, cuts_buf, n ? n - 1 : 0, &other);
    assert_same(r, &other);
    if (n <= 1024) {
        for (size_t k = 1; k < n; k++) {
            feed_cuts(auth, in, n, &k, 1, &other);
            assert_same(r, &other);
        }
    }
    for (int t = 0; t < 8 && n > 1; t++) {
        size_t nc = 0, pos = 0;
        for (;;) {
            pos += 1 + rnd() % (n > 4096 ? 4096 : 13);
            if (pos >= n) {
                break;
            }
            cuts_buf[nc++] = pos;
        }
        feed_cuts(auth, in, n, cuts_buf, nc, &other);
        assert_same(r, &other);
    }
}

static void feed_str(const pt_proxy_cred *auth, const char *s, result *r)
{
    feed(auth, s, strlen(s), r);
}

static void expect_status(const pt_proxy_cred *auth, const char *s, unsigned status)
{
    static result r;
    feed_str(auth, s, &r);
    if (r.rc != PT_ERR_PROTO || r.status != status) {
        fail_msg("want %u, got rc %d status %u for: %s", status, r.rc, r.status, s);
    }
}

static void expect_fwd(const result *r, const char *want)
{
    assert_int_equal(r->rc, PT_ERR_OK);
    assert_int_equal(r->kind, PT_HTTP_PROXY_FORWARD);
    if (r->fwd_len != strlen(want) || memcmp(r->fwd, want, r->fwd_len) != 0) {
        fail_msg("forwarded head:\n%.*s\nwant:\n%s", (int)r->fwd_len, (const char *)r->fwd, want);
    }
}

/* ---- CONNECT ------------------------------------------------------------- */

static void test_connect_domain(void **state)
{
    (void)state;
    static result r;
    const char *head = "CONNECT example.com:443 HTTP/1.1\r\n"
                       "Host: example.com:443\r\n"
                       "User-Agent: curl/8.5.0\r\n"
                       "Proxy-Connection: Keep-Alive\r\n"
                       "\r\n";
    feed_str(NULL, head, &r);
    assert_int_equal(r.rc, PT_ERR_OK);
    assert_int_equal(r.kind, PT_HTTP_PROXY_CONNECT);
    assert_int_equal(r.consumed, strlen(head));
    assert_int_equal(r.target.type, PT_ADDR_DOMAIN);
    assert_string_equal(r.target.u.domain, "example.com");
    assert_int_equal(r.target.port, 443);

    /* Early tunnel data (a ClientHello) after the head is not consumed. */
    static const uint8_t hello[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01};
    uint8_t with_data[256];
    memcpy(with_data, head, strlen(head));
    memcpy(with_data + strlen(head), hello, sizeof(hello));
    feed(NULL, with_data, strlen(head) + sizeof(hello), &r);
    assert_int_equal(r.rc, PT_ERR_OK);
    assert_int_equal(r.consumed, strlen(head));
}

static void test_connect_ip_literals(void **state)
{
    (void)state;
    static result r;
    feed_str(NULL, "CONNECT 93.184.216.34:8443 HTTP/1.1\r\n\r\n", &r);
    assert_int_equal(r.rc, PT_ERR_OK);
    assert_int_equal(r.target.type, PT_ADDR_IPV4);
    assert_memory_equal(r.target.u.ipv4, "\x5d\xb8\xd8\x22", 4);
    assert_int_equal(r.target.port, 8443);

    feed_str(NULL, "CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: [2001:db8::1]:443\r\n\r\n", &r);
    assert_int_equal(r.rc, PT_ERR_OK);
    assert_int_equal(r.target.type, PT_ADDR_IPV6);
    assert_memory_equal(r.target.u.ipv6,
                        "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01", 16);
    assert_int_equal(r.target.port, 443);

    feed_str(NULL, "CONNECT [::ffff:1.2.3.4]:1 HTTP/1.0\r\n\r\n", &r);
    assert_int_equal(r.rc, PT_ERR_OK);
    assert_int_equal(r.target.type, PT_ADDR_IPV6);
    assert_int_equal(r.target.port, 1);

    /* Leading blank lines (RFC 9112 §2.2) and bare LF line ends. */
    feed_str(NULL, "\r\n\nCONNECT h:65535 HTTP/1.1\nHost: h\n\n", &r);
    assert_int_equal(r.rc, PT_ERR_OK);
    assert_string_equal(r.target.u.domain, "h");
    assert_int_equal(r.target.port, 65535);
}

static void test_connect_bad_targets(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "CONNECT example.com HTTP/1.1\r\n\r\n",          /* no port */
        "CONNECT example.com: HTTP/1.1\r\n\r\n",         /* empty port */
        "CONNECT example.com:0 HTTP/1.1\r\n\r\n",        /* port 0 */
        "CONNECT example.com:65536 HTTP/1.1\r\n\r\n",    /* > 65535 */
        "CONNECT example.com:123456 HTTP/1.1\r\n\r\n",   /* 6 digits */
        "CONNECT example.com:44x HTTP/1.1\r\n\r\n",      /* not digits */
        "CONNECT example.com:-1 HTTP/1.1\r\n\r\n",       /* sign */
        "CONNECT [::1] HTTP/1.1\r\n\r\n",                /* v6 without port */
        "CONNECT ::1:443 HTTP/1.1\r\n\r\n",              /* v6 without brackets */
        "CONNECT [::1:443 HTTP/1.1\r\n\r\n",             /* no ']' */
        "CONNECT [::1]x:443 HTTP/1.1\r\n\r\n",           /* junk after ']' */
        "CONNECT []:443 HTTP/1.1\r\n\r\n",               /* empty literal */
        "CONNECT [fe80::1%25eth0]:443 HTTP/1.1\r\n\r\n", /* zone id */
        "CONNECT [v1.x]:443 HTTP/1.1\r\n\r\n",           /* IPvFuture */
        "CONNECT [1.2.3.4]:443 HTTP/1.1\r\n\r\n",        /* v4 in brackets */
        "CONNECT :443 HTTP/1.1\r\n\r\n",                 /* empty host */
        "CONNECT user@host:443 HTTP/1.1\r\n\r\n",        /* userinfo */
        "CONNECT exa%6dple.com:443 HTTP/1.1\r\n\r\n",    /* pct-encoded */
        "CONNECT exa/mple.com:443 HTTP/1.1\r\n\r\n",     /* '/' */
        "CONNECT 1.2.3:443 HTTP/1.1\r\n\r\n",            /* short dotted */
        "CONNECT 256.1.1.1:443 HTTP/1.1\r\n\r\n",        /* octet > 255 */
        "CONNECT 2130706433:443 HTTP/1.1\r\n\r\n",       /* integer IPv4 */
        "CONNECT 01.2.3.4:443 HTTP/1.1\r\n\r\n",         /* octal-looking */
        "CONNECT http://example.com:443 HTTP/1.1\r\n\r\n",
        "CONNECT / HTTP/1.1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        expect_status(NULL, bad[i], 400);
    }
}

static void test_connect_domain_lengths(void **state)
{
    (void)state;
    static char head[1024];
    static result r;
    char name[300];
    memset(name, 'a', sizeof(name));
    name[255] = 0;
    snprintf(head, sizeof(head), "CONNECT %s:443 HTTP/1.1\r\n\r\n", name);
    feed_str(NULL, head, &r);
    assert_int_equal(r.rc, PT_ERR_OK);
    assert_int_equal(r.target.domain_len, 255);
    name[255] = 'a';
    name[256] = 0;
    snprintf(head, sizeof(head), "CONNECT %s:443 HTTP/1.1\r\n\r\n", name);
    expect_status(NULL, head, 400);
}

/* ---- absolute-form ------------------------------------------------------------ */

static void test_forward_rewrite(void **state)
{
    (void)state;
    static result r;
    const char *head = "GET http://example.com/path?q=1 HTTP/1.1\r\n"
                       "Host: wrong.example\r\n"
                       "User-Agent: curl/8.5.0\r\n"
                       "Proxy-Connection: keep-alive\r\n"
                       "Proxy-Authorization: Basic Zm9vOmJhcg==\r\n"
                       "Connection: keep-alive, X-Foo\r\n"
                       "X-Foo: drop me\r\n"
                       "X-Bar: keep me\r\n"
                       "Keep-Alive: timeout=5\r\n"
                       "TE: trailers\r\n"
                       "Trailer: Expires\r\n"
                       "Upgrade: h2c\r\n"
                       "x-foo: drop me too\r\n"
                       "Accept:*/*\r\n"
                       "\r\n";
    feed_str(NULL, head, &r);
    expect_fwd(&r, "GET /path?q=1 HTTP/1.1\r\n"
                   "Host: example.com\r\n"
                   "User-Agent: curl/8.5.0\r\n"
                   "X-Bar: keep me\r\n"
                   "Accept:*/*\r\n"
                   "Connection: close\r\n"
                   "\r\n");
    assert_int_equal(r.consumed, strlen(head));
    assert_int_equal(r.target.type, PT_ADDR_DOMAIN);
    assert_string_equal(r.target.u.domain, "example.com");
    assert_int_equal(r.target.port, 80);
}

static void test_forward_paths_and_ports(void **state)
{
    (void)state;
    static result r;
    feed_str(NULL, "GET http://example.com HTTP/1.1\r\n\r\n", &r);
    expect_fwd(&r, "GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n");

    feed_str(NULL, "HEAD http://example.com?x=1 HTTP/1.0\r\n\r\n", &r);
    expect_fwd(&r, "HEAD /?x=1 HTTP/1.0\r\nHost: example.com\r\nConnection: close\r\n\r\n");

    feed_str(NULL, "GET HTTP://Example.COM:8080/a/b HTTP/1.1\nHost: x\n\n", &r);
    expect_fwd(&r, "GET /a/b HTTP/1.1\r\nHost: Example.COM:8080\r\nConnection: close\r\n\r\n");
    assert_int_equal(r.target.port, 8080);
    assert_string_equal(r.target.u.domain, "Example.COM");

    feed_str(NULL, "GET http://example.com:/ HTTP/1.1\r\n\r\n", &r);
    expect_fwd(&r, "GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n");
    assert_int_equal(r.target.port, 80);

    feed_str(NULL, "OPTIONS http://[::1]:8000/ HTTP/1.1\r\n\r\n", &r);
    expect_fwd(&r, "OPTIONS / HTTP/1.1\r\nHost: [::1]:8000\r\nConnection: close\r\n\r\n");
    assert_int_equal(r.target.type, PT_ADDR_IPV6);
    assert_int_equal(r.target.port, 8000);

    feed_str(NULL, "GET http://10.0.0.1:0080/ HTTP/1.1\r\n\r\n", &r);
    expect_fwd(&r, "GET / HTTP/1.1\r\nHost: 10.0.0.1:80\r\nConnection: close\r\n\r\n");
    assert_int_equal(r.target.type, PT_ADDR_IPV4);

    /* Any method; the field lines are copied as received. */
    feed_str(NULL, "PROPFIND http://h/d/ HTTP/1.1\r\nDepth:  1 \r\nX-Empty:\r\n\r\n", &r);
    expect_fwd(&r, "PROPFIND /d/ HTTP/1.1\r\nHost: h\r\nDepth:  1 \r\nX-Empty:\r\n"
                   "Connection: close\r\n\r\n");
}

static void test_forward_body_not_consumed(void **state)
{
    (void)state;
    static result r;
    const char *head = "POST http://example.com/upload HTTP/1.1\r\n"
                       "Content-Length: 11\r\n"
                       "Connection: content-length, transfer-encoding, host\r\n"
                       "Transfer-Encoding: chunked\r\n"
                       "\r\n";
    char all[512];
    snprintf(all, sizeof(all), "%shello world", head);
    feed_str(NULL, all, &r);
    /* Content-Length / Transfer-Encoding frame the body we forward as is:
     * a Connection option cannot remove them. */
    expect_fwd(&r, "POST /upload HTTP/1.1\r\n"
                   "Host: example.com\r\n"
                   "Content-Length: 11\r\n"
                   "Transfer-Encoding: chunked\r\n"
                   "Connection: close\r\n"
                   "\r\n");
    assert_int_equal(r.consumed, strlen(head));
}

static void test_forward_websocket(void **state)
{
    (void)state;
    static result r;
    feed_str(NULL,
             "GET http://ws.example/chat HTTP/1.1\r\n"
             "Upgrade: websocket\r\n"
             "Connection: keep-alive, Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
             "Sec-WebSocket-Version: 13\r\n"
             "\r\n",
             &r);
    expect_fwd(&r, "GET /chat HTTP/1.1\r\n"
                   "Host: ws.example\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   "Sec-WebSocket-Version: 13\r\n"
                   "Upgrade: websocket\r\n"
                   "Connection: Upgrade\r\n"
                   "\r\n");

    /* Without "Connection: upgrade", or not a GET, or another protocol:
     * Upgrade is dropped. */
    feed_str(NULL, "GET http://h/ HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", &r);
    expect_fwd(&r, "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    feed_str(NULL, "POST http://h/ HTTP/1.1\r\nUpgrade: WebSocket\r\nConnection: upgrade\r\n\r\n",
             &r);
    expect_fwd(&r, "POST / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    feed_str(NULL, "GET http://h/ HTTP/1.1\r\nUpgrade: h2c, foo/2\r\nConnection: Upgrade\r\n\r\n",
             &r);
    expect_fwd(&r, "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    feed_str(
        NULL,
        "GET http://h/ HTTP/1.1\r\nUpgrade: foo, WebSocket/13\r\nConnection: ,upgrade,\r\n\r\n",
        &r);
    expect_fwd(&r,
               "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
}

static void test_forward_bad_targets(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "GET https://example.com/ HTTP/1.1\r\n\r\n",
        "GET HTTPS://example.com/ HTTP/1.1\r\n\r\n",
        "GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n",
        "OPTIONS * HTTP/1.1\r\n\r\n",
        "GET ftp://example.com/ HTTP/1.1\r\n\r\n",
        "GET example.com:80 HTTP/1.1\r\n\r\n",
        "GET http:/example.com/ HTTP/1.1\r\n\r\n",
        "GET http:// HTTP/1.1\r\n\r\n",
        "GET http:///path HTTP/1.1\r\n\r\n",
        "GET http://example.com/#frag HTTP/1.1\r\n\r\n",
        "GET http://user:pw@example.com/ HTTP/1.1\r\n\r\n",
        "GET http://example.com:99999/ HTTP/1.1\r\n\r\n",
        "GET http://[::1/ HTTP/1.1\r\n\r\n",
        "GET http://exa mple.com/ HTTP/1.1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        expect_status(NULL, bad[i], 400);
    }
}

/* ---- syntax ----------------------------------------------------------------- */

static void test_syntax_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "CONNECT h:1 HTTP/1.1\rX: y\r\n\r\n",      /* bare CR */
        "CONNECT h:1 HTTP/1.1\r\nX: y\rz\r\n\r\n", /* bare CR in a field */
        "CONNECT  h:1 HTTP/1.1\r\n\r\n",           /* two spaces */
        "CONNECT h:1  HTTP/1.1\r\n\r\n",
        "CONNECT\th:1 HTTP/1.1\r\n\r\n", /* tab in the request line */
        "CONNECT h:1\r\n\r\n",           /* HTTP/0.9 style */
        "CONNECT h:1 HTTP/1.1 \r\n\r\n", /* trailing space */
        " CONNECT h:1 HTTP/1.1\r\n\r\n", /* empty method */
        "CONN(ECT h:1 HTTP/1.1\r\n\r\n", /* not a token */
        "CONNECT h:1 http/1.1\r\n\r\n",  /* case of HTTP */
        "CONNECT h:1 HTTP/1.1x\r\n\r\n",
        "CONNECT h:1 HTTP/11\r\n\r\n",
        "CONNECT h:1 HTTP/1.\r\n\r\n",
        "CONNECT h:1 HTTP/\r\n\r\n",
        "CONNECT h:1 HTTP/1.1\r\n X: folded\r\n\r\n",         /* whitespace before first field */
        "CONNECT h:1 HTTP/1.1\r\nA: b\r\n\tc\r\n\r\n",        /* obs-fold */
        "CONNECT h:1 HTTP/1.1\r\nA : b\r\n\r\n",              /* space before ':' */
        "CONNECT h:1 HTTP/1.1\r\nA\r\n\r\n",                  /* no ':' */
        "CONNECT h:1 HTTP/1.1\r\n: b\r\n\r\n",                /* empty name */
        "CONNECT h:1 HTTP/1.1\r\nA(: b\r\n\r\n",              /* bad name */
        "CONNECT h:1 HTTP/1.1\r\nA: b\x01\r\n\r\n",           /* control byte */
        "CONNECT h:1 HTTP/1.1\r\nA: b\x7f\r\n\r\n",           /* DEL */
        "CONNECT h:1 HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", /* two Hosts */
        "GET http://h/\x80 HTTP/1.1\r\n\r\n",                 /* 8-bit in the target */
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",       /* TLS ClientHello */
        "\x05\x01\x00",                                       /* SOCKS5 greeting */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        expect_status(NULL, bad[i], 400);
    }
    static result r;
    /* NUL inside a field (strlen-based helpers cannot build this one). */
    static const char nul[] = "CONNECT h:1 HTTP/1.1\r\nA: b\0c\r\n\r\n";
    feed(NULL, nul, sizeof(nul) - 1, &r);
    assert_int_equal(r.rc, PT_ERR_PROTO);
    assert_int_equal(r.status, 400);

    /* Garbage is refused at its first byte, not after a buffer's worth. */
    feed_str(NULL, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", &r);
    assert_int_equal(r.consumed, 1);

    /* Obs-text (0x80..0xff) in a field value is allowed and copied. */
    feed_str(NULL, "GET http://h/ HTTP/1.1\r\nX-Name: caf\xc3\xa9\r\n\r\n", &r);
    expect_fwd(&r, "GET / HTTP/1.1\r\nHost: h\r\nX-Name: caf\xc3\xa9\r\nConnection: close\r\n\r\n");
}

static void test_versions(void **state)
{
    (void)state;
    static result r;
    expect_status(NULL, "CONNECT h:1 HTTP/2.0\r\n\r\n", 505);
    expect_status(NULL, "GET http://h/ HTTP/0.9\r\n\r\n", 505);
    feed_str(NULL, "CONNECT h:1 HTTP/1.0\r\n\r\n", &r);
    assert_int_equal(r.rc, PT_ERR_OK);
    feed_str(NULL, "GET http://h/ HTTP/1.9\r\n\r\n", &r);
    assert_int_equal(r.rc, PT_ERR_OK);
}

static void test_incomplete_heads_wait(void **state)
{
    (void)state;
    const char *head = "GET http://h/ HTTP/1.1\r\nA: b\r\n\r\n";
    size_t n = strlen(head);
    for (size_t k = 0; k < n; k++) {
        static result r;
        feed_cuts(NULL, (const uint8_t *)head, k, NULL, 0, &r);
        assert_int_equal(r.rc, PT_ERR_AGAIN);
        assert_int_equal(r.consumed, k);
    }
}

/* ---- limits ---------------------------------------------------------------- */

static char big[PT_HTTP_PROXY_HEAD_MAX + 4096];

static void test_request_line_limit(void **state)
{
    (void)state;
    static result r;
    /* "GET http://h/aaaa... HTTP/1.1\r\n" exactly 8192 bytes: accepted. */
    const char *pre = "GET http://h/", *post = " HTTP/1.1\r\n";
    size_t fill = PT_HTTP_PROXY_LINE_MAX - strlen(pre) - strlen(post);
    size_t n = 0;
    memcpy(big, pre, strlen(pre));
    n = strlen(pre);
    memset(big + n, 'a', fill);
    n += fill;
    memcpy(big + n, post, strlen(post));
    n += strlen(post);
    assert_int_equal(n, PT_HTTP_PROXY_LINE_MAX);
    memcpy(big + n, "\r\n", 3);
    feed_str(NULL, big, &r);
    assert_int_equal(r.rc, PT_ERR_OK);
    assert_int_equal(r.consumed, PT_HTTP_PROXY_LINE_MAX + 2);
    /* "http://h" is gone from the request line, "Host: h" is added. */
    assert_int_equal(r.fwd_len, PT_HTTP_PROXY_LINE_MAX - 8 + strlen("Host: h\r\n") +
                                    strlen("Connection: close\r\n") + 2);

    /* One more byte: 414, decided at byte LINE_MAX + 1. */
    memmove(big + strlen(pre) + 1, big + strlen(pre), n + 3);
    expect_status(NULL, big, 414);
    feed_str(NULL, big, &r);
    assert_int_equal(r.consumed, PT_HTTP_PROXY_LINE_MAX + 1);

    /* A line that never ends: refused at the limit, not later. */
    memset(big, 'A', PT_HTTP_PROXY_LINE_MAX + 100);
    big[PT_HTTP_PROXY_LINE_MAX + 100] = 0;
    feed_str(NULL, big, &r);
    assert_int_equal(r.status, 414);
    assert_int_equal(r.consumed, PT_HTTP_PROXY_LINE_MAX + 1);

    /* Blank lines before the request line count against it. */
    for (size_t i = 0; i < PT_HTTP_PROXY_LINE_MAX + 2; i += 2) {
        memcpy(big + i, "\r\n", 2);
    }
    big[PT_HTTP_PROXY_LINE_MAX + 2] = 0;
    feed_str(NULL, big, &r);
    assert_int_equal(r.status, 414);
}

/* Builds a CONNECT head whose header section is exactly |section| bytes
 * (fields + final CRLF) in |nfields| fields. */
static size_t build_headers(size_t section, size_t nfields)
{
    const char *line = "CONNECT h:443 HTTP/1.1\r\n";
    size_t n = strlen(line);
    memcpy(big, line, n);
    size_t body = section - 2; /* bytes for the fields */
    for (size_t i = 0; i < nfields; i++) {
        size_t left = body / (nfields - i);
        body -= left;
        /* "X-<i>: vvv\r\n" of exactly |left| bytes */
        int h = snprintf(big + n, 32, "X-%zu: ", i);
        assert_true(h > 0 && (size_t)h + 3 <= left);
        memset(big + n + h, 'v', left - (size_t)h - 2);
        memcpy(big + n + left - 2, "\r\n", 2);
        n += left;
    }
    memcpy(big + n, "\r\n", 3);
    return n + 2;
}

/* The request that grows most when rewritten: a full request line with a
 * 255-byte host, an explicit port and a "?" path (a '/' is added), bare-LF
 * line ends everywhere (a CR is added to each), 100 fields, with (|ws|) or
 * without a WebSocket upgrade. Sets |*fwd_len| to the expected forwarded
 * size; returns the head length. */
static size_t build_worst_forward(int ws, size_t *fwd_len)
{
    size_t m = 0;
    m += (size_t)snprintf(big, 32, "GET http://");
    memset(big + m, 'h', PT_ADDR_DOMAIN_MAX);
    m += PT_ADDR_DOMAIN_MAX;
    memcpy(big + m, ":1?", 3);
    m += 3;
    size_t q = PT_HTTP_PROXY_LINE_MAX - m - strlen(" HTTP/1.1\n");
    memset(big + m, 'q', q);
    m += q;
    memcpy(big + m, " HTTP/1.1\n", strlen(" HTTP/1.1\n"));
    m += strlen(" HTTP/1.1\n");
    assert_int_equal(m, PT_HTTP_PROXY_LINE_MAX);
    /* "GET /?" q " HTTP/1.1\r\n", "Host: " host ":1\r\n" */
    *fwd_len = 6 + q + 11 + 6 + PT_ADDR_DOMAIN_MAX + 4;

    size_t body = PT_HTTP_PROXY_HEADERS_MAX - 1; /* fields; then "\n" */
    size_t nf = 100;
    if (ws) {
        const char *u = "Upgrade:websocket\n", *c = "Connection:upgrade\n";
        memcpy(big + m, u, strlen(u));
        m += strlen(u);
        memcpy(big + m, c, strlen(c));
        m += strlen(c);
        body -= strlen(u) + strlen(c);
        nf -= 2;
        *fwd_len += strlen("Upgrade: websocket\r\nConnection: Upgrade\r\n");
    } else {
        *fwd_len += strlen("Connection: close\r\n");
    }
    for (size_t i = 0; i < nf; i++) {
        size_t left = body / (nf - i);
        body -= left;
        int h = snprintf(big + m, 32, "Y%zu:", i);
        memset(big + m + h, 'v', left - (size_t)h - 1);
        big[m + left - 1] = '\n';
        m += left;
        *fwd_len += left + 1;
    }
    big[m++] = '\n';
    big[m] = 0;
    *fwd_len += 2;
    return m;
}

static void test_header_limits(void **state)
{
    (void)state;
    static result r;
    size_t n = build_headers(PT_HTTP_PROXY_HEADERS_MAX, 10);
    feed(NULL, big, n, &r);
    assert_int_equal(r.rc, PT_ERR_OK);
    assert_int_equal(r.consumed, n);

    n = build_headers(PT_HTTP_PROXY_HEADERS_MAX + 1, 10);
    feed(NULL, big, n, &r);
    assert_int_equal(r.rc, PT_ERR_PROTO);
    assert_int_equal(r.status, 431);
    assert_int_equal(r.consumed,
                     strlen("CONNECT h:443 HTTP/1.1\r\n") + PT_HTTP_PROXY_HEADERS_MAX + 1);

    n = build_headers(100 * 12 + 2, 100);
    feed(NULL, big, n, &r);
    assert_int_equal(r.rc, PT_ERR_OK);

    n = build_headers(101 * 12 + 2, 101);
    feed(NULL, big, n, &r);
    assert_int_equal(r.rc, PT_ERR_PROTO);
    assert_int_equal(r.status, 431);

    /* Absolute-form requests at both limits, shaped to grow the most when
     * rewritten (see PT_HTTP_PROXY_FORWARD_MAX): the rewritten head fits. */
    for (int ws = 0; ws < 2; ws++) {
        size_t want = 0;
        n = build_worst_forward(ws, &want);
        assert_int_equal(n, PT_HTTP_PROXY_HEAD_MAX);
        feed(NULL, big, n, &r);
        assert_int_equal(r.rc, PT_ERR_OK);
        assert_int_equal(r.kind, PT_HTTP_PROXY_FORWARD);
        assert_int_equal(r.fwd_len, want);
        assert_true(r.fwd_len <= PT_HTTP_PROXY_FORWARD_MAX);
    }
}

/* ---- authentication -------------------------------------------------------- */

static void test_auth(void **state)
{
    (void)state;
    static result r;
    feed_str(&kCred, "CONNECT h:443 HTTP/1.1\r\n" GOOD_AUTH "\r\n", &r);
    assert_int_equal(r.rc, PT_ERR_OK);
    feed_str(&kCred,
             "CONNECT h:443 HTTP/1.1\r\nproxy-authorization:   basic   YWxpY2U6cGE6c3M=  \r\n\r\n",
             &r);
    assert_int_equal(r.rc, PT_ERR_OK);

    /* Credentials are never forwarded. */
    feed_str(&kCred, "GET http://h/ HTTP/1.1\r\n" GOOD_AUTH "Accept: */*\r\n\r\n", &r);
    expect_fwd(&r, "GET / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nConnection: close\r\n\r\n");

    static const char *const bad[] = {
        "CONNECT h:443 HTTP/1.1\r\n\r\n",                                                /* none */
        "CONNECT h:443 HTTP/1.1\r\nProxy-Authorization: Basic YWxpY2U6cGE6c3Q=\r\n\r\n", /* pa:st */
        "CONNECT h:443 HTTP/1.1\r\nProxy-Authorization: Basic YWxpY2U6cGE6cw==\r\n\r\n", /* pa:s */
        "CONNECT h:443 HTTP/1.1\r\nProxy-Authorization: Basic YWxpY2U=\r\n\r\n",        /* no ':' */
        "CONNECT h:443 HTTP/1.1\r\nProxy-Authorization: Basic YWxpY2U6cGE6c3M\r\n\r\n", /* no pad */
        "CONNECT h:443 HTTP/1.1\r\nProxy-Authorization: Basic !!!!\r\n\r\n",
        "CONNECT h:443 HTTP/1.1\r\nProxy-Authorization: Basic\r\n\r\n",
        "CONNECT h:443 HTTP/1.1\r\nProxy-Authorization: Bearer YWxpY2U6cGE6c3M=\r\n\r\n",
        "CONNECT h:443 HTTP/1.1\r\nProxy-Authorization: Basic Ym9iOnBhOnNz\r\n\r\n", /* bob */
        "CONNECT h:443 HTTP/1.1\r\nAuthorization: Basic YWxpY2U6cGE6c3M=\r\n\r\n", /* wrong field */
        "CONNECT h:443 HTTP/1.1\r\n" GOOD_AUTH GOOD_AUTH "\r\n",                   /* twice */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        expect_status(&kCred, bad[i], 407);
    }
    /* Overlong credentials fail cleanly. */
    static char head[4096];
    char b64[2048];
    memset(b64, 'Q', 1200);
    b64[1200] = 0;
    snprintf(head, sizeof(head), "CONNECT h:443 HTTP/1.1\r\nProxy-Authorization: Basic %s\r\n\r\n",
             b64);
    expect_status(&kCred, head, 407);

    /* Syntax errors are answered before credentials are asked for. */
    expect_status(&kCred, "CONNECT h HTTP/1.1\r\n\r\n", 400);
}

static void test_init_and_state(void **state)
{
    (void)state;
    static pt_http_proxy p;
    uint8_t small[16];
    assert_int_equal(pt_http_proxy_init(&p, NULL, small, sizeof(small)), PT_ERR_INVAL);
    size_t used;
    assert_int_equal(pt_http_proxy_consume(&p, &used, (const uint8_t *)"G", 1), PT_ERR_STATE);
    pt_proxy_cred bad = kCred;
    bad.user_len = 0;
    assert_int_equal(pt_http_proxy_init(&p, &bad, head_buf(), PT_HTTP_PROXY_HEAD_MAX),
                     PT_ERR_CONFIG);

    /* Cleanup wipes what the head held (Proxy-Authorization). */
    assert_int_equal(pt_http_proxy_init(&p, &kCred, head_buf(), PT_HTTP_PROXY_HEAD_MAX), PT_ERR_OK);
    const char *head = "CONNECT h:443 HTTP/1.1\r\n" GOOD_AUTH "\r\n";
    assert_int_equal(pt_http_proxy_consume(&p, &used, (const uint8_t *)head, strlen(head)),
                     PT_ERR_OK);
    uint8_t out[64];
    size_t ol;
    assert_int_equal(pt_http_proxy_forward_head(&p, out, sizeof(out), &ol), PT_ERR_STATE);
    size_t n = p.len;
    uint8_t *buf = p.buf;
    pt_http_proxy_cleanup(&p);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(buf[i], 0);
    }

    /* Too small a buffer for the forwarded head. */
    assert_int_equal(pt_http_proxy_init(&p, NULL, head_buf(), PT_HTTP_PROXY_HEAD_MAX), PT_ERR_OK);
    head = "GET http://h/ HTTP/1.1\r\n\r\n";
    assert_int_equal(pt_http_proxy_consume(&p, &used, (const uint8_t *)head, strlen(head)),
                     PT_ERR_OK);
    assert_int_equal(pt_http_proxy_forward_head(&p, out, 10, &ol), PT_ERR_NOBUFS);
    assert_int_equal(ol, 0);
    pt_http_proxy_cleanup(&p);
}

/* ---- responses ----------------------------------------------------------- */

static void test_responses(void **state)
{
    (void)state;
    /* One spare byte stays 0 so the output can be searched as a string. */
    uint8_t out[PT_HTTP_PROXY_RESPONSE_MAX + 1] = {0};
    size_t ol;
    assert_int_equal(pt_http_proxy_established_encode(out, sizeof(out), &ol), PT_ERR_OK);
    assert_int_equal(ol, strlen("HTTP/1.1 200 Connection established\r\n\r\n"));
    assert_memory_equal(out, "HTTP/1.1 200 Connection established\r\n\r\n", ol);
    assert_int_equal(pt_http_proxy_established_encode(out, 10, &ol), PT_ERR_NOBUFS);

    assert_int_equal(
        pt_http_proxy_response_encode(out, sizeof(out), &ol, 407, "bad proxy credentials"),
        PT_ERR_OK);
    const char *want407 = "HTTP/1.1 407 Proxy Authentication Required\r\n"
                          "Content-Type: text/plain; charset=utf-8\r\n"
                          "Content-Length: 31\r\n"
                          "Connection: close\r\n"
                          "Proxy-Authenticate: Basic realm=\"phantom\", charset=\"UTF-8\"\r\n"
                          "\r\n"
                          "phantom: bad proxy credentials\n";
    assert_int_equal(ol, strlen(want407));
    assert_memory_equal(out, want407, ol);

    static const unsigned ok_status[] = {400, 403, 407, 414, 431, 502, 503, 504, 505};
    for (size_t i = 0; i < sizeof(ok_status) / sizeof(ok_status[0]); i++) {
        memset(out, 0, sizeof(out));
        assert_int_equal(
            pt_http_proxy_response_encode(out, PT_HTTP_PROXY_RESPONSE_MAX, &ol, ok_status[i], NULL),
            PT_ERR_OK);
        char line[32];
        snprintf(line, sizeof(line), "HTTP/1.1 %u ", ok_status[i]);
        assert_memory_equal(out, line, strlen(line));
        /* Content-Length matches the body. */
        const char *sep = strstr((const char *)out, "\r\n\r\n");
        assert_non_null(sep);
        size_t body = ol - (size_t)(sep + 4 - (const char *)out);
        const char *cl = strstr((const char *)out, "Content-Length: ");
        assert_non_null(cl);
        assert_int_equal(strtoul(cl + 16, NULL, 10), body);
    }
    assert_int_equal(pt_http_proxy_response_encode(out, sizeof(out), &ol, 200, NULL), PT_ERR_INVAL);
    assert_int_equal(pt_http_proxy_response_encode(out, sizeof(out), &ol, 999, NULL), PT_ERR_INVAL);
    assert_int_equal(pt_http_proxy_response_encode(out, 40, &ol, 400, NULL), PT_ERR_NOBUFS);
    assert_int_equal(ol, 0);

    /* Hostile detail text stays one printable line, and is cut to fit. */
    static char longd[2000];
    memset(longd, 'x', sizeof(longd) - 1);
    longd[5] = '\r';
    longd[6] = '\n';
    memset(out, 0, sizeof(out));
    assert_int_equal(
        pt_http_proxy_response_encode(out, PT_HTTP_PROXY_RESPONSE_MAX, &ol, 502, longd), PT_ERR_OK);
    assert_true(ol <= PT_HTTP_PROXY_RESPONSE_MAX);
    const char *body = strstr((const char *)out, "\r\n\r\n") + 4;
    assert_null(memchr(body, '\r', ol - (size_t)(body - (const char *)out)));
}

static void test_wire_error_mapping(void **state)
{
    (void)state;
    static const struct {
        uint32_t code;
        unsigned status;
        const char *text;
    } map[] = {
        {PT_WIRE_CONNECTION_REFUSED, 502, "connection refused by example.com:443"},
        {PT_WIRE_HOST_UNREACHABLE, 502, "host unreachable: example.com:443"},
        {PT_WIRE_NETWORK_UNREACHABLE, 502, "network unreachable"},
        {PT_WIRE_NAME_NOT_RESOLVED, 502, "could not resolve example.com:443 (NAME_NOT_RESOLVED)"},
        {PT_WIRE_ADDRESS_NOT_SUPPORTED, 502, "address type not supported"},
        {PT_WIRE_CONNECT_ERROR, 502, "could not connect to example.com:443"},
        {PT_WIRE_CONNECT_TIMEOUT, 504, "timed out connecting to example.com:443"},
        {PT_WIRE_NOT_ALLOWED, 403, "does not allow connecting to example.com:443"},
        {PT_WIRE_REFUSED_STREAM, 503, "tunnel busy"},
        {PT_WIRE_ENHANCE_YOUR_CALM, 503, "tunnel busy"},
        {PT_WIRE_INTERNAL_ERROR, 502, "tunnel error"},
        {PT_WIRE_NO_ERROR, 502, "tunnel error"},
        {0x1234, 502, "(UNKNOWN)"},
    };
    pt_addr t;
    assert_int_equal(pt_addr_set_domain(&t, "example.com", 443), PT_ERR_OK);
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        uint8_t out[PT_HTTP_PROXY_RESPONSE_MAX + 1];
        size_t ol;
        assert_int_equal(pt_http_proxy_status_from_wire(map[i].code), map[i].status);
        assert_int_equal(pt_http_proxy_error_encode(out, sizeof(out) - 1, &ol, map[i].code, &t),
                         PT_ERR_OK);
        out[ol] = 0;
        char line[32];
        snprintf(line, sizeof(line), "HTTP/1.1 %u ", map[i].status);
        assert_memory_equal(out, line, strlen(line));
        if (!strstr((const char *)out, map[i].text)) {
            fail_msg("missing '%s' in %s", map[i].text, (const char *)out);
        }
        assert_int_equal(pt_http_proxy_error_encode(out, sizeof(out) - 1, &ol, map[i].code, NULL),
                         PT_ERR_OK);
    }
    /* The longest target still fits. */
    char name[256];
    memset(name, 'n', 255);
    name[255] = 0;
    assert_int_equal(pt_addr_set_domain(&t, name, 65535), PT_ERR_OK);
    uint8_t out[PT_HTTP_PROXY_RESPONSE_MAX];
    size_t ol;
    assert_int_equal(pt_http_proxy_error_encode(out, sizeof(out), &ol, PT_WIRE_NOT_ALLOWED, &t),
                     PT_ERR_OK);
}

/* ---- garbage ---------------------------------------------------------------- */

static const char *const kSeeds[] = {
    "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nUser-Agent: x\r\n\r\n",
    "GET http://example.com/a?b HTTP/1.1\r\nHost: e\r\nConnection: keep-alive, X\r\nX: 1\r\n\r\n",
    "GET http://[::1]:8/ HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
    "CONNECT h:1 HTTP/1.1\r\n" GOOD_AUTH "\r\n",
};

static void test_random_garbage(void **state)
{
    (void)state;
    static uint8_t buf[4096];
    static result a, b;
    size_t seen[3] = {0, 0, 0};
    for (int iter = 0; iter < 20000; iter++) {
        size_t n;
        if (rnd() % 3 == 0) {
            n = rnd() % 300;
            for (size_t i = 0; i < n; i++) {
                /* Mostly printable, with line ends and the odd control. */
                uint32_t v = rnd() % 100;
                buf[i] = v < 80   ? (uint8_t)(0x20 + rnd() % 95)
                         : v < 90 ? (uint8_t) "\r\n:/[] ,"[rnd() % 8]
                                  : (uint8_t)rnd();
            }
        } else {
            const char *s = kSeeds[rnd() % (sizeof(kSeeds) / sizeof(kSeeds[0]))];
            n = strlen(s);
            memcpy(buf, s, n);
            for (int m = 1 + (int)(rnd() % 4); m > 0; m--) {
                size_t at = rnd() % n;
                switch (rnd() % 3) {
                case 0: /* flip */
                    buf[at] ^= (uint8_t)(1u << (rnd() % 8));
                    break;
                case 1: /* insert */
                    if (n + 1 < sizeof(buf)) {
                        memmove(buf + at + 1, buf + at, n - at);
                        buf[at] = (uint8_t) "\r\n:/[] ,\t@%#?"[rnd() % 13];
                        n++;
                    }
                    break;
                default: /* delete */
                    memmove(buf + at, buf + at + 1, n - at - 1);
                    n--;
                    break;
                }
            }
        }
        const pt_proxy_cred *auth = (rnd() & 1) ? &kCred : NULL;
        feed_cuts(auth, buf, n, NULL, 0, &a);
        size_t nc = 0, pos = 0;
        for (;;) {
            pos += 1 + rnd() % 9;
            if (pos >= n) {
                break;
            }
            cuts_buf[nc++] = pos;
        }
        feed_cuts(auth, buf, n, cuts_buf, nc, &b);
        assert_same(&a, &b);
        if (a.rc == PT_ERR_AGAIN) {
            assert_int_equal(a.consumed, n);
        }
        seen[a.rc == PT_ERR_OK ? 0 : a.rc == PT_ERR_AGAIN ? 1 : 2]++;
    }
    /* The generator reaches every outcome. */
    print_message("garbage: %zu OK, %zu AGAIN, %zu PROTO\n", seen[0], seen[1], seen[2]);
    assert_true(seen[0] > 100 && seen[1] > 100 && seen[2] > 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_domain),
        cmocka_unit_test(test_connect_ip_literals),
        cmocka_unit_test(test_connect_bad_targets),
        cmocka_unit_test(test_connect_domain_lengths),
        cmocka_unit_test(test_forward_rewrite),
        cmocka_unit_test(test_forward_paths_and_ports),
        cmocka_unit_test(test_forward_body_not_consumed),
        cmocka_unit_test(test_forward_websocket),
        cmocka_unit_test(test_forward_bad_targets),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_incomplete_heads_wait),
        cmocka_unit_test(test_request_line_limit),
        cmocka_unit_test(test_header_limits),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_init_and_state),
        cmocka_unit_test(test_responses),
        cmocka_unit_test(test_wire_error_mapping),
        cmocka_unit_test(test_random_garbage),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(head_buf());
    return rc;
}
