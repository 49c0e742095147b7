/* test_pt_socks5.c — the SOCKS5 server machine (RFC 1928, RFC 1929) and the
 * shared credential check.
 *
 * Every conversation is fed all at once, one byte at a time, cut in two at
 * every offset and in random chunks; all must give the same result, the
 * same bytes to send and the same count consumed (so early data after the
 * request is never eaten). Inputs are exact-size heap copies so ASan flags
 * any read past what was given.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pt_err.h"
#include "pt_frame.h"
#include "pt_proxy_cred.h"
#include "pt_socks5.h"

#define MAX_CONV 2048

static const pt_proxy_cred kCred = {
    .user = (const uint8_t *)"alice",
    .user_len = 5,
    .pass = (const uint8_t *)"s3cret!",
    .pass_len = 7,
};

/* ---- helpers ---------------------------------------------------------------- */

typedef struct result {
    int rc;
    uint8_t out[4 * PT_SOCKS5_OUT_MAX];
    size_t out_len;
    size_t consumed; /* total over all chunks */
    pt_socks5_state state;
    pt_addr target;
    int have_target;
} result;

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

/* Feeds |in| cut at the offsets in |cuts| (ascending, each 0 < cut < n);
 * stops at the first answer other than AGAIN, as the glue would. */
static void feed_cuts(const pt_proxy_cred *auth, const uint8_t *in, size_t n, const size_t *cuts,
                      size_t ncuts, result *r)
{
    pt_socks5 s;
    memset(r, 0, sizeof(*r));
    assert_int_equal(pt_socks5_init(&s, auth), PT_ERR_OK);
    size_t pos = 0;
    r->rc = PT_ERR_AGAIN;
    for (size_t k = 0; k <= ncuts && r->rc == PT_ERR_AGAIN; k++) {
        size_t end = k < ncuts ? cuts[k] : n;
        size_t len = end - pos;
        uint8_t *chunk = malloc(len ? len : 1);
        assert_non_null(chunk);
        if (len) {
            memcpy(chunk, in + pos, len);
        }
        uint8_t out[PT_SOCKS5_OUT_MAX];
        size_t out_len = 99, used = 99;
        r->rc = pt_socks5_consume(&s, out, sizeof(out), &out_len, &used, chunk, len);
        free(chunk);
        assert_true(out_len <= PT_SOCKS5_OUT_MAX);
        assert_true(used <= len);
        if (r->rc == PT_ERR_AGAIN) {
            assert_int_equal(used, len); /* AGAIN takes everything */
            assert_true(s.buf_len < PT_SOCKS5_IN_MAX);
        }
        assert_true(r->out_len + out_len <= sizeof(r->out));
        memcpy(r->out + r->out_len, out, out_len);
        r->out_len += out_len;
        r->consumed += used;
        pos = end;
    }
    assert_true(r->rc == PT_ERR_AGAIN || r->rc == PT_ERR_OK || r->rc == PT_ERR_PROTO);
    r->state = s.state;
    const pt_addr *t = pt_socks5_target(&s);
    if (t) {
        r->target = *t;
        r->have_target = 1;
    }
    if (r->rc == PT_ERR_OK) {
        assert_int_equal(s.state, PT_SOCKS5_CONNECTING);
        assert_non_null(t);
        assert_null(pt_socks5_fail_reason(&s));
    } else if (r->rc == PT_ERR_PROTO) {
        assert_int_equal(s.state, PT_SOCKS5_FAILED);
        assert_non_null(pt_socks5_fail_reason(&s));
        assert_null(t);
    }
    /* No more input once the machine has answered. */
    if (r->rc != PT_ERR_AGAIN) {
        uint8_t out[PT_SOCKS5_OUT_MAX], one = 5;
        size_t ol, u;
        assert_int_equal(pt_socks5_consume(&s, out, sizeof(out), &ol, &u, &one, 1), PT_ERR_STATE);
        assert_int_equal(ol, 0);
        assert_int_equal(u, 0);
    }
    pt_socks5_cleanup(&s);
}

static void feed_all(const pt_proxy_cred *auth, const uint8_t *in, size_t n, result *r)
{
    feed_cuts(auth, in, n, NULL, 0, r);
}

static void assert_same(const result *a, const result *b)
{
    assert_int_equal(a->rc, b->rc);
    assert_int_equal(a->out_len, b->out_len);
    assert_memory_equal(a->out, b->out, a->out_len);
    assert_int_equal(a->consumed, b->consumed);
    assert_int_equal(a->state, b->state);
    assert_int_equal(a->have_target, b->have_target);
    if (a->have_target) {
        assert_memory_equal(&a->target, &b->target, sizeof(a->target));
    }
}

/* The split property: all at once == byte by byte == every single cut ==
 * random chunkings. Returns the all-at-once result. */
static void feed_every_split(const pt_proxy_cred *auth, const uint8_t *in, size_t n, result *r)
{
    static size_t cuts[MAX_CONV];
    result other;

    assert_true(n <= MAX_CONV);
    feed_all(auth, in, n, r);

    for (size_t i = 1; i < n; i++) {
        cuts[i - 1] = i;
    }
    feed_cuts(auth, in, n, cuts, n ? n - 1 : 0, &other);
    assert_same(r, &other);

    for (size_t k = 1; k < n; k++) {
        feed_cuts(auth, in, n, &k, 1, &other);
        assert_same(r, &other);
    }
    for (int t = 0; t < 20 && n > 1; t++) {
        size_t nc = 0, pos = 0;
        while (nc < MAX_CONV) {
            pos += 1 + rnd() % 7;
            if (pos >= n) {
                break;
            }
            cuts[nc++] = pos;
        }
        feed_cuts(auth, in, n, cuts, nc, &other);
        assert_same(r, &other);
    }
}

/* Concatenates up to four pieces into |dst|; returns the length. */
static size_t cat(uint8_t *dst, const void *a, size_t an, const void *b, size_t bn, const void *c,
                  size_t cn, const void *d, size_t dn)
{
    size_t n = 0;
    const void *p[4] = {a, b, c, d};
    size_t l[4] = {an, bn, cn, dn};
    for (int i = 0; i < 4; i++) {
        if (l[i]) {
            memcpy(dst + n, p[i], l[i]);
            n += l[i];
        }
    }
    return n;
}

static const uint8_t kGreetNone[] = {0x05, 0x01, 0x00};
static const uint8_t kGreetBoth[] = {0x05, 0x02, 0x00, 0x02};
static const uint8_t kGreetUser[] = {0x05, 0x01, 0x02};
static const uint8_t kReqV4[] = {0x05, 0x01, 0x00, 0x01, 93, 184, 216, 34, 0x01, 0xbb};
static const uint8_t kReqV6[] = {0x05, 0x01, 0x00, 0x04, 0x20, 0x01, 0x0d, 0xb8, 0, 0,    0,
                                 0,    0,    0,    0,    0,    0,    0,    0,    1, 0x00, 0x50};
static const uint8_t kReqDom[] = {0x05, 0x01, 0x00, 0x03, 11,  'e', 'x', 'a',  'm',
                                  'p',  'l',  'e',  '.',  'c', 'o', 'm', 0x01, 0xbb};
static const uint8_t kAuthGood[] = {0x01, 5,   'a', 'l', 'i', 'c', 'e', 7,
                                    's',  '3', 'c', 'r', 'e', 't', '!'};
static const uint8_t kEarly[] = "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n";

static const uint8_t kFail[10] = {0x05, 0x01, 0x00, 0x01, 0, 0, 0, 0, 0, 0};

static void expect_fail_reply(const result *r, size_t prefix, uint8_t rep)
{
    uint8_t want[10];
    memcpy(want, kFail, sizeof(want));
    want[1] = rep;
    assert_int_equal(r->rc, PT_ERR_PROTO);
    assert_int_equal(r->out_len, prefix + 10);
    assert_memory_equal(r->out + prefix, want, 10);
}

/* ---- greeting --------------------------------------------------------------- */

static void test_greeting_only(void **state)
{
    (void)state;
    result r;
    feed_every_split(NULL, kGreetNone, sizeof(kGreetNone), &r);
    assert_int_equal(r.rc, PT_ERR_AGAIN);
    assert_int_equal(r.out_len, 2);
    assert_memory_equal(r.out, "\x05\x00", 2);
    assert_int_equal(r.consumed, sizeof(kGreetNone));
    assert_int_equal(r.state, PT_SOCKS5_REQUEST);

    feed_every_split(&kCred, kGreetBoth, sizeof(kGreetBoth), &r);
    assert_int_equal(r.rc, PT_ERR_AGAIN);
    assert_memory_equal(r.out, "\x05\x02", 2);
    assert_int_equal(r.state, PT_SOCKS5_AUTH);

    /* Both offered, no credentials configured: no authentication. */
    feed_every_split(NULL, kGreetBoth, sizeof(kGreetBoth), &r);
    assert_memory_equal(r.out, "\x05\x00", 2);
    assert_int_equal(r.state, PT_SOCKS5_REQUEST);
}

static void test_greeting_no_acceptable_method(void **state)
{
    (void)state;
    result r;
    /* Credentials required, only "no auth" offered: 05 FF. */
    feed_every_split(&kCred, kGreetNone, sizeof(kGreetNone), &r);
    assert_int_equal(r.rc, PT_ERR_PROTO);
    assert_int_equal(r.out_len, 2);
    assert_memory_equal(r.out, "\x05\xff", 2);
    assert_int_equal(r.consumed, 3);

    /* No credentials configured, only user/pass offered. */
    feed_every_split(NULL, kGreetUser, sizeof(kGreetUser), &r);
    assert_int_equal(r.rc, PT_ERR_PROTO);
    assert_memory_equal(r.out, "\x05\xff", 2);

    /* NMETHODS = 0 */
    static const uint8_t zero[] = {0x05, 0x00, 0x05, 0x01};
    feed_every_split(NULL, zero, sizeof(zero), &r);
    assert_int_equal(r.rc, PT_ERR_PROTO);
    assert_memory_equal(r.out, "\x05\xff", 2);
    assert_int_equal(r.consumed, 2); /* the rest is not read */

    /* GSSAPI only */
    static const uint8_t gss[] = {0x05, 0x01, 0x01};
    feed_every_split(&kCred, gss, sizeof(gss), &r);
    assert_memory_equal(r.out, "\x05\xff", 2);
}

static void test_greeting_bad_version(void **state)
{
    (void)state;
    result r;
    static const uint8_t socks4[] = {0x04, 0x01, 0x00, 0x50, 127, 0, 0, 1, 'u', 0};
    feed_every_split(NULL, socks4, sizeof(socks4), &r);
    assert_int_equal(r.rc, PT_ERR_PROTO);
    assert_int_equal(r.out_len, 0); /* nothing a SOCKS4 client understands */
    assert_int_equal(r.consumed, 1);

    static const uint8_t http[] = "CONNECT example.com:443 HTTP/1.1\r\n\r\n";
    feed_every_split(NULL, http, sizeof(http) - 1, &r);
    assert_int_equal(r.rc, PT_ERR_PROTO);
    assert_int_equal(r.out_len, 0);

    static const uint8_t tls[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01};
    feed_every_split(&kCred, tls, sizeof(tls), &r);
    assert_int_equal(r.rc, PT_ERR_PROTO);
    assert_int_equal(r.out_len, 0);
}

static void test_greeting_255_methods(void **state)
{
    (void)state;
    uint8_t g[2 + 255];
    result r;
    g[0] = 5;
    g[1] = 255;
    for (int i = 0; i < 255; i++) {
        g[2 + i] = (uint8_t)(0xfe - i); /* 0xfe..0x00: 02 and 00 come last */
    }
    feed_every_split(NULL, g, sizeof(g), &r);
    assert_int_equal(r.rc, PT_ERR_AGAIN);
    assert_memory_equal(r.out, "\x05\x00", 2);
    feed_every_split(&kCred, g, sizeof(g), &r);
    assert_memory_equal(r.out, "\x05\x02", 2);
    /* One short: still waiting, never more than the message. */
    feed_every_split(NULL, g, sizeof(g) - 1, &r);
    assert_int_equal(r.rc, PT_ERR_AGAIN);
    assert_int_equal(r.out_len, 0);
    assert_int_equal(r.state, PT_SOCKS5_GREETING);
}

/* ---- requests --------------------------------------------------------------- */

static void test_connect_ipv4(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t n = cat(buf, kGreetNone, sizeof(kGreetNone), kReqV4, sizeof(kReqV4), NULL, 0, NULL, 0);
    result r;
    feed_every_split(NULL, buf, n, &r);
    assert_int_equal(r.rc, PT_ERR_OK);
    assert_int_equal(r.consumed, n);
    assert_memory_equal(r.out, "\x05\x00", 2);
    assert_int_equal(r.out_len, 2);
    assert_int_equal(r.target.type, PT_ADDR_IPV4);
    assert_memory_equal(r.target.u.ipv4, "\x5d\xb8\xd8\x22", 4);
    assert_int_equal(r.target.port, 443);
}

static void test_connect_ipv6(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t n = cat(buf, kGreetNone, sizeof(kGreetNone), kReqV6, sizeof(kReqV6), NULL, 0, NULL, 0);
    result r;
    feed_every_split(NULL, buf, n, &r);
    assert_int_equal(r.rc, PT_ERR_OK);
    assert_int_equal(r.consumed, n);
    assert_int_equal(r.target.type, PT_ADDR_IPV6);
    assert_memory_equal(r.target.u.ipv6, kReqV6 + 4, 16);
    assert_int_equal(r.target.port, 80);
    char text[64];
    pt_addr_format(&r.target, text, sizeof(text));
    assert_string_equal(text, "[2001:db8::1]:80");
}

static void test_connect_domain_kept_as_name(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t n = cat(buf, kGreetNone, sizeof(kGreetNone), kReqDom, sizeof(kReqDom), NULL, 0, NULL, 0);
    result r;
    feed_every_split(NULL, buf, n, &r);
    assert_int_equal(r.rc, PT_ERR_OK);
    assert_int_equal(r.target.type, PT_ADDR_DOMAIN);
    assert_int_equal(r.target.domain_len, 11);
    assert_string_equal(r.target.u.domain, "example.com");
    assert_int_equal(r.target.port, 443);
}

static void test_connect_domain_255(void **state)
{
    (void)state;
    uint8_t buf[3 + 4 + 1 + 255 + 2];
    size_t n = 0;
    memcpy(buf, kGreetNone, 3);
    n = 3;
    buf[n++] = 5;
    buf[n++] = 1;
    buf[n++] = 0;
    buf[n++] = 3;
    buf[n++] = 255;
    for (int i = 0; i < 255; i++) {
        buf[n++] = (uint8_t)(0x21 + i % 94); /* every allowed byte */
    }
    buf[n++] = 0xff;
    buf[n++] = 0xff;
    result r;
    feed_every_split(NULL, buf, n, &r);
    assert_int_equal(r.rc, PT_ERR_OK);
    assert_int_equal(r.target.domain_len, 255);
    assert_int_equal(r.target.port, 65535);
    assert_memory_equal(r.target.u.domain, buf + 8, 255);
}

static void test_pipelined_early_data(void **state)
{
    (void)state;
    uint8_t buf[256];
    size_t head = sizeof(kGreetNone) + sizeof(kReqDom);
    size_t n = cat(buf, kGreetNone, sizeof(kGreetNone), kReqDom, sizeof(kReqDom), kEarly,
                   sizeof(kEarly) - 1, NULL, 0);
    result r;
    feed_every_split(NULL, buf, n, &r);
    assert_int_equal(r.rc, PT_ERR_OK);
    /* Exactly the handshake is consumed: the rest is the stream's. */
    assert_int_equal(r.consumed, head);
    assert_int_equal(r.out_len, 2);

    /* With authentication: greeting + auth + request + data in one write. */
    size_t head2 = sizeof(kGreetUser) + sizeof(kAuthGood) + sizeof(kReqV4);
    n = cat(buf, kGreetUser, sizeof(kGreetUser), kAuthGood, sizeof(kAuthGood), kReqV4,
            sizeof(kReqV4), kEarly, sizeof(kEarly) - 1);
    feed_every_split(&kCred, buf, n, &r);
    assert_int_equal(r.rc, PT_ERR_OK);
    assert_int_equal(r.consumed, head2);
    assert_int_equal(r.out_len, 4);
    assert_memory_equal(r.out, "\x05\x02\x01\x00", 4);
    assert_int_equal(r.target.type, PT_ADDR_IPV4);
}

static void test_early_data_exact_split(void **state)
{
    (void)state;
    /* The request arrives in two reads, the second carrying early data. */
    pt_socks5 s;
    uint8_t out[PT_SOCKS5_OUT_MAX];
    size_t ol, used;
    assert_int_equal(pt_socks5_init(&s, NULL), PT_ERR_OK);
    assert_int_equal(pt_socks5_consume(&s, out, sizeof(out), &ol, &used, kGreetNone, 3),
                     PT_ERR_AGAIN);
    assert_int_equal(pt_socks5_consume(&s, out, sizeof(out), &ol, &used, kReqDom, 7), PT_ERR_AGAIN);
    assert_int_equal(ol, 0);
    uint8_t rest[64];
    size_t n = cat(rest, kReqDom + 7, sizeof(kReqDom) - 7, "\x16\x03\x01", 3, NULL, 0, NULL, 0);
    assert_int_equal(pt_socks5_consume(&s, out, sizeof(out), &ol, &used, rest, n), PT_ERR_OK);
    assert_int_equal(used, sizeof(kReqDom) - 7);
    assert_int_equal(ol, 0);
    assert_string_equal(pt_socks5_target(&s)->u.domain, "example.com");
    pt_socks5_cleanup(&s);
}

static void request_case(const uint8_t *req, size_t req_len, uint8_t want_rep, size_t want_consumed)
{
    uint8_t buf[600];
    size_t n = cat(buf, kGreetNone, sizeof(kGreetNone), req, req_len, NULL, 0, NULL, 0);
    result r;
    feed_every_split(NULL, buf, n, &r);
    expect_fail_reply(&r, 2, want_rep);
    assert_int_equal(r.consumed, sizeof(kGreetNone) + want_consumed);
    assert_int_equal(r.have_target, 0);
}

static void test_request_errors(void **state)
{
    (void)state;
    static const uint8_t bind[] = {0x05, 0x02, 0x00, 0x01, 1, 2, 3, 4, 0, 80};
    static const uint8_t udp[] = {0x05, 0x03, 0x00, 0x01, 0, 0, 0, 0, 0, 0};
    static const uint8_t cmd9[] = {0x05, 0x09, 0x00, 0x01, 0, 0, 0, 0, 0, 0};
    static const uint8_t atyp2[] = {0x05, 0x01, 0x00, 0x02, 0, 0, 0, 0, 0, 0};
    static const uint8_t atyp0[] = {0x05, 0x01, 0x00, 0x00};
    static const uint8_t atypff[] = {0x05, 0x01, 0x00, 0xff, 1};
    static const uint8_t rsv[] = {0x05, 0x01, 0x01, 0x01, 1, 2, 3, 4, 0, 80};
    static const uint8_t ver4[] = {0x04, 0x01, 0x00, 0x01, 1, 2, 3, 4, 0, 80};
    static const uint8_t dom0[] = {0x05, 0x01, 0x00, 0x03, 0, 0x01, 0xbb, 'x'};
    static const uint8_t domsp[] = {0x05, 0x01, 0x00, 0x03, 3, 'a', ' ', 'b', 0, 80};
    static const uint8_t domnul[] = {0x05, 0x01, 0x00, 0x03, 3, 'a', 0, 'b', 0, 80};
    static const uint8_t domdel[] = {0x05, 0x01, 0x00, 0x03, 1, 0x7f, 0, 80};
    static const uint8_t dom8bit[] = {0x05, 0x01, 0x00, 0x03, 2, 0xc3, 0xa9, 0, 80};

    request_case(bind, sizeof(bind), PT_SOCKS5_REP_COMMAND_NOT_SUPPORTED, 2);
    request_case(udp, sizeof(udp), PT_SOCKS5_REP_COMMAND_NOT_SUPPORTED, 2);
    request_case(cmd9, sizeof(cmd9), PT_SOCKS5_REP_COMMAND_NOT_SUPPORTED, 2);
    request_case(atyp2, sizeof(atyp2), PT_SOCKS5_REP_ADDRESS_NOT_SUPPORTED, 4);
    request_case(atyp0, sizeof(atyp0), PT_SOCKS5_REP_ADDRESS_NOT_SUPPORTED, 4);
    request_case(atypff, sizeof(atypff), PT_SOCKS5_REP_ADDRESS_NOT_SUPPORTED, 4);
    request_case(rsv, sizeof(rsv), PT_SOCKS5_REP_GENERAL_FAILURE, 3);
    request_case(ver4, sizeof(ver4), PT_SOCKS5_REP_GENERAL_FAILURE, 1);
    request_case(dom0, sizeof(dom0), PT_SOCKS5_REP_GENERAL_FAILURE, 7);
    request_case(domsp, sizeof(domsp), PT_SOCKS5_REP_GENERAL_FAILURE, sizeof(domsp));
    request_case(domnul, sizeof(domnul), PT_SOCKS5_REP_GENERAL_FAILURE, sizeof(domnul));
    request_case(domdel, sizeof(domdel), PT_SOCKS5_REP_GENERAL_FAILURE, sizeof(domdel));
    request_case(dom8bit, sizeof(dom8bit), PT_SOCKS5_REP_GENERAL_FAILURE, sizeof(dom8bit));
}

static void test_request_truncated_waits(void **state)
{
    (void)state;
    /* Every proper prefix of a valid conversation is AGAIN with nothing
     * consumed beyond it and the machine holding less than a message. */
    uint8_t buf[128];
    size_t n = cat(buf, kGreetUser, sizeof(kGreetUser), kAuthGood, sizeof(kAuthGood), kReqDom,
                   sizeof(kReqDom), NULL, 0);
    for (size_t k = 0; k < n; k++) {
        result r;
        feed_all(&kCred, buf, k, &r);
        assert_int_equal(r.rc, PT_ERR_AGAIN);
        assert_int_equal(r.consumed, k);
    }
}

/* ---- authentication ------------------------------------------------------- */

static void auth_case(const uint8_t *auth_msg, size_t len, int want_ok)
{
    uint8_t buf[1024];
    size_t n =
        cat(buf, kGreetBoth, sizeof(kGreetBoth), auth_msg, len, kReqV4, sizeof(kReqV4), NULL, 0);
    result r;
    feed_every_split(&kCred, buf, n, &r);
    if (want_ok) {
        assert_int_equal(r.rc, PT_ERR_OK);
        assert_int_equal(r.out_len, 4);
        assert_memory_equal(r.out, "\x05\x02\x01\x00", 4);
        assert_int_equal(r.consumed, n);
    } else {
        assert_int_equal(r.rc, PT_ERR_PROTO);
        assert_int_equal(r.out_len, 4);
        assert_memory_equal(r.out, "\x05\x02\x01\x01", 4);
        assert_true(r.consumed <= sizeof(kGreetBoth) + len);
    }
}

static void test_auth(void **state)
{
    (void)state;
    auth_case(kAuthGood, sizeof(kAuthGood), 1);

    static const uint8_t bad_pass[] = {0x01, 5,   'a', 'l', 'i', 'c', 'e', 7,
                                       's',  '3', 'c', 'r', 'e', 't', '?'};
    static const uint8_t bad_user[] = {0x01, 5,   'a', 'l', 'i', 'c', 'E', 7,
                                       's',  '3', 'c', 'r', 'e', 't', '!'};
    static const uint8_t short_pass[] = {0x01, 5,   'a', 'l', 'i', 'c', 'e',
                                         6,    's', '3', 'c', 'r', 'e', 't'};
    static const uint8_t long_pass[] = {0x01, 5,   'a', 'l', 'i', 'c', 'e', 8,
                                        's',  '3', 'c', 'r', 'e', 't', '!', 0};
    static const uint8_t empty[] = {0x01, 0, 0};
    static const uint8_t swapped[] = {0x01, 7, 's', '3', 'c', 'r', 'e', 't',
                                      '!',  5, 'a', 'l', 'i', 'c', 'e'};
    static const uint8_t ver2[] = {0x02, 5,   'a', 'l', 'i', 'c', 'e', 7,
                                   's',  '3', 'c', 'r', 'e', 't', '!'};
    static const uint8_t ver5[] = {0x05, 0x01, 0x00, 0x01, 1, 2, 3, 4, 0, 80};
    auth_case(bad_pass, sizeof(bad_pass), 0);
    auth_case(bad_user, sizeof(bad_user), 0);
    auth_case(short_pass, sizeof(short_pass), 0);
    auth_case(long_pass, sizeof(long_pass), 0);
    auth_case(empty, sizeof(empty), 0);
    auth_case(swapped, sizeof(swapped), 0);
    auth_case(ver2, sizeof(ver2), 0);
    auth_case(ver5, sizeof(ver5), 0); /* skipped the sub-negotiation */
}

static void test_auth_max_lengths(void **state)
{
    (void)state;
    static uint8_t user[255], pass[255];
    for (int i = 0; i < 255; i++) {
        user[i] = (uint8_t)i;
        pass[i] = (uint8_t)(255 - i);
    }
    pt_proxy_cred big = {user, 255, pass, 255};
    uint8_t msg[PT_SOCKS5_IN_MAX];
    msg[0] = 1;
    msg[1] = 255;
    memcpy(msg + 2, user, 255);
    msg[257] = 255;
    memcpy(msg + 258, pass, 255);
    uint8_t buf[1024];
    size_t n = cat(buf, kGreetUser, 3, msg, sizeof(msg), kReqV4, sizeof(kReqV4), NULL, 0);
    result r;
    feed_every_split(&big, buf, n, &r);
    assert_int_equal(r.rc, PT_ERR_OK);
    assert_memory_equal(r.out, "\x05\x02\x01\x00", 4);

    msg[sizeof(msg) - 1] ^= 1; /* last password byte */
    n = cat(buf, kGreetUser, 3, msg, sizeof(msg), kReqV4, sizeof(kReqV4), NULL, 0);
    feed_every_split(&big, buf, n, &r);
    assert_int_equal(r.rc, PT_ERR_PROTO);
    assert_memory_equal(r.out, "\x05\x02\x01\x01", 4);
    assert_int_equal(r.consumed, 3 + PT_SOCKS5_IN_MAX);
}

static void test_auth_wipes_buffer(void **state)
{
    (void)state;
    pt_socks5 s;
    uint8_t out[PT_SOCKS5_OUT_MAX];
    size_t ol, used;
    assert_int_equal(pt_socks5_init(&s, &kCred), PT_ERR_OK);
    assert_int_equal(pt_socks5_consume(&s, out, sizeof(out), &ol, &used, kGreetUser, 3),
                     PT_ERR_AGAIN);
    assert_int_equal(
        pt_socks5_consume(&s, out, sizeof(out), &ol, &used, kAuthGood, sizeof(kAuthGood)),
        PT_ERR_AGAIN);
    assert_int_equal(s.state, PT_SOCKS5_REQUEST);
    for (size_t i = 0; i < sizeof(s.buf); i++) {
        assert_int_equal(s.buf[i], 0);
    }
    pt_socks5_cleanup(&s);
}

static void test_cred_check(void **state)
{
    (void)state;
    const uint8_t *u = (const uint8_t *)"alice", *p = (const uint8_t *)"s3cret!";
    assert_int_equal(pt_proxy_cred_check(&kCred, u, 5, p, 7), 1);
    assert_int_equal(pt_proxy_cred_check(&kCred, u, 5, p, 6), 0);
    assert_int_equal(pt_proxy_cred_check(&kCred, u, 4, p, 7), 0);
    assert_int_equal(pt_proxy_cred_check(&kCred, p, 7, u, 5), 0);
    assert_int_equal(pt_proxy_cred_check(&kCred, NULL, 0, NULL, 0), 0);
    static uint8_t big[300];
    assert_int_equal(pt_proxy_cred_check(&kCred, big, 300, p, 7), 0);
    /* Length is part of the comparison: "alice" != "alice\0". */
    assert_int_equal(pt_proxy_cred_check(&kCred, (const uint8_t *)"alice\0", 6, p, 7), 0);

    pt_proxy_cred c = kCred;
    assert_int_equal(pt_proxy_cred_valid(&c), 1);
    c.user_len = 0;
    assert_int_equal(pt_proxy_cred_valid(&c), 0);
    c = kCred;
    c.pass_len = 256;
    assert_int_equal(pt_proxy_cred_valid(&c), 0);
    c = kCred;
    c.pass = NULL;
    assert_int_equal(pt_proxy_cred_valid(&c), 0);
    assert_int_equal(pt_proxy_cred_valid(NULL), 0);

    pt_socks5 s;
    c.pass = NULL;
    assert_int_equal(pt_socks5_init(&s, &c), PT_ERR_CONFIG);
    uint8_t out[PT_SOCKS5_OUT_MAX];
    size_t ol, used;
    assert_int_equal(pt_socks5_consume(&s, out, sizeof(out), &ol, &used, kGreetUser, 3),
                     PT_ERR_STATE);
}

/* ---- replies ---------------------------------------------------------------- */

/* A machine in CONNECTING (no authentication, IPv4 request). */
static void connecting(pt_socks5 *s)
{
    uint8_t buf[64], out[PT_SOCKS5_OUT_MAX];
    size_t ol, used;
    size_t n = cat(buf, kGreetNone, sizeof(kGreetNone), kReqV4, sizeof(kReqV4), NULL, 0, NULL, 0);
    assert_int_equal(pt_socks5_init(s, NULL), PT_ERR_OK);
    assert_int_equal(pt_socks5_consume(s, out, sizeof(out), &ol, &used, buf, n), PT_ERR_OK);
}

static void test_reply_code_mapping(void **state)
{
    (void)state;
    static const struct {
        uint32_t wire;
        uint8_t rep;
    } map[] = {
        {PT_WIRE_CONNECTION_REFUSED, 0x05},
        {PT_WIRE_HOST_UNREACHABLE, 0x04},
        {PT_WIRE_NAME_NOT_RESOLVED, 0x04},
        {PT_WIRE_NETWORK_UNREACHABLE, 0x03},
        {PT_WIRE_CONNECT_TIMEOUT, 0x06},
        {PT_WIRE_NOT_ALLOWED, 0x02},
        {PT_WIRE_ADDRESS_NOT_SUPPORTED, 0x08},
        {PT_WIRE_CONNECT_ERROR, 0x01},
        {PT_WIRE_REFUSED_STREAM, 0x01},
        {PT_WIRE_INTERNAL_ERROR, 0x01},
        {PT_WIRE_NO_ERROR, 0x01},
        {PT_WIRE_PROTOCOL_ERROR, 0x01},
        {PT_WIRE_CANCEL, 0x01},
        {PT_WIRE_IDLE_TIMEOUT, 0x01},
        {PT_WIRE_ENHANCE_YOUR_CALM, 0x01},
        {0x12, 0x01},
        {0xffffffffu, 0x01},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        assert_int_equal(pt_socks5_rep_from_wire(map[i].wire), map[i].rep);

        pt_socks5 s;
        connecting(&s);
        uint8_t out[PT_SOCKS5_REPLY_MAX];
        size_t ol = 0;
        assert_int_equal(pt_socks5_reply_failure(&s, out, sizeof(out), &ol, map[i].wire),
                         PT_ERR_OK);
        uint8_t want[10];
        memcpy(want, kFail, 10);
        want[1] = map[i].rep;
        assert_int_equal(ol, 10);
        assert_memory_equal(out, want, 10);
        assert_int_equal(s.state, PT_SOCKS5_FAILED);
        assert_non_null(pt_socks5_fail_reason(&s));
        /* Only one reply. */
        assert_int_equal(pt_socks5_reply_failure(&s, out, sizeof(out), &ol, 0), PT_ERR_STATE);
        assert_int_equal(pt_socks5_reply_success(&s, out, sizeof(out), &ol, NULL), PT_ERR_STATE);
        pt_socks5_cleanup(&s);
    }
    /* Every code 0..0x11 maps to a defined failure REP, never success. */
    for (uint32_t c = 0; c <= 0x11; c++) {
        uint8_t rep = pt_socks5_rep_from_wire(c);
        assert_true(rep >= 0x01 && rep <= 0x08 && rep != 0x07);
    }
}

static void test_reply_success(void **state)
{
    (void)state;
    uint8_t out[PT_SOCKS5_REPLY_MAX];
    size_t ol;
    pt_socks5 s;

    connecting(&s);
    assert_int_equal(pt_socks5_reply_success(&s, out, sizeof(out), &ol, NULL), PT_ERR_OK);
    assert_int_equal(ol, 10);
    assert_memory_equal(out, "\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00", 10);
    assert_int_equal(s.state, PT_SOCKS5_ESTABLISHED);
    assert_int_equal(pt_socks5_reply_success(&s, out, sizeof(out), &ol, NULL), PT_ERR_STATE);
    assert_non_null(pt_socks5_target(&s));
    pt_socks5_cleanup(&s);

    pt_addr v4 = {.type = PT_ADDR_IPV4, .port = 40000, .u.ipv4 = {10, 1, 2, 3}};
    connecting(&s);
    assert_int_equal(pt_socks5_reply_success(&s, out, sizeof(out), &ol, &v4), PT_ERR_OK);
    assert_int_equal(ol, 10);
    assert_memory_equal(out, "\x05\x00\x00\x01\x0a\x01\x02\x03\x9c\x40", 10);
    pt_socks5_cleanup(&s);

    pt_addr v6 = {.type = PT_ADDR_IPV6, .port = 1};
    v6.u.ipv6[15] = 1;
    connecting(&s);
    assert_int_equal(pt_socks5_reply_success(&s, out, sizeof(out), &ol, &v6), PT_ERR_OK);
    assert_int_equal(ol, 22);
    assert_memory_equal(out, "\x05\x00\x00\x04", 4);
    assert_memory_equal(out + 4, v6.u.ipv6, 16);
    assert_memory_equal(out + 20, "\x00\x01", 2);
    pt_socks5_cleanup(&s);

    pt_addr dom;
    char name[256];
    memset(name, 'a', 255);
    name[255] = 0;
    assert_int_equal(pt_addr_set_domain(&dom, name, 8080), PT_ERR_OK);
    connecting(&s);
    /* Too small: state unchanged, nothing written. */
    assert_int_equal(pt_socks5_reply_success(&s, out, PT_SOCKS5_REPLY_MAX - 1, &ol, &dom),
                     PT_ERR_NOBUFS);
    assert_int_equal(ol, 0);
    assert_int_equal(s.state, PT_SOCKS5_CONNECTING);
    assert_int_equal(pt_socks5_reply_success(&s, out, sizeof(out), &ol, &dom), PT_ERR_OK);
    assert_int_equal(ol, PT_SOCKS5_REPLY_MAX);
    assert_memory_equal(out, "\x05\x00\x00\x03\xff", 5);
    pt_socks5_cleanup(&s);

    pt_addr bad = {.type = 9};
    connecting(&s);
    assert_int_equal(pt_socks5_reply_success(&s, out, sizeof(out), &ol, &bad), PT_ERR_INVAL);
    assert_int_equal(s.state, PT_SOCKS5_CONNECTING);
    assert_int_equal(pt_socks5_reply_failure(&s, out, 9, &ol, PT_WIRE_CONNECT_ERROR),
                     PT_ERR_NOBUFS);
    assert_int_equal(s.state, PT_SOCKS5_CONNECTING);
    pt_socks5_cleanup(&s);
}

static void test_state_checks(void **state)
{
    (void)state;
    pt_socks5 s;
    uint8_t out[PT_SOCKS5_REPLY_MAX];
    size_t ol, used;
    assert_int_equal(pt_socks5_init(&s, NULL), PT_ERR_OK);
    assert_null(pt_socks5_target(&s));
    assert_null(pt_socks5_fail_reason(&s));
    assert_int_equal(pt_socks5_reply_success(&s, out, sizeof(out), &ol, NULL), PT_ERR_STATE);
    assert_int_equal(pt_socks5_reply_failure(&s, out, sizeof(out), &ol, 0), PT_ERR_STATE);
    /* Output buffer too small: nothing consumed. */
    assert_int_equal(pt_socks5_consume(&s, out, PT_SOCKS5_OUT_MAX - 1, &ol, &used, kGreetNone, 3),
                     PT_ERR_NOBUFS);
    assert_int_equal(used, 0);
    assert_int_equal(s.state, PT_SOCKS5_GREETING);
    /* Empty input is fine. */
    assert_int_equal(pt_socks5_consume(&s, out, sizeof(out), &ol, &used, NULL, 0), PT_ERR_AGAIN);
    assert_int_equal(used, 0);
    assert_int_equal(ol, 0);
    assert_string_equal(pt_socks5_state_name(PT_SOCKS5_CONNECTING), "CONNECTING");
    assert_string_equal(pt_socks5_state_name((pt_socks5_state)42), "UNKNOWN");
    pt_socks5_cleanup(&s);
}

/* ---- garbage ---------------------------------------------------------------- */

/* A random conversation: mostly well-formed pieces (greeting, maybe
 * credentials, request, early data) with a few bytes damaged, sometimes
 * plain noise. Returns its length (<= 1100). */
static size_t gen_conversation(uint8_t *buf)
{
    size_t n = 0;
    if (rnd() % 5 == 0) {
        n = rnd() % 600;
        for (size_t i = 0; i < n; i++) {
            buf[i] = (uint8_t)rnd();
        }
        return n;
    }
    /* greeting */
    size_t nm = rnd() % 4;
    buf[n++] = 5;
    buf[n++] = (uint8_t)nm;
    for (size_t i = 0; i < nm; i++) {
        buf[n++] = (uint8_t)(rnd() % 3 ? rnd() % 3 : rnd());
    }
    /* credentials, right or wrong */
    if (rnd() & 1) {
        if (rnd() & 1) {
            memcpy(buf + n, kAuthGood, sizeof(kAuthGood));
            n += sizeof(kAuthGood);
        } else {
            buf[n++] = 1;
            for (int f = 0; f < 2; f++) {
                size_t l = rnd() % 9;
                buf[n++] = (uint8_t)l;
                for (size_t i = 0; i < l; i++) {
                    buf[n++] = (uint8_t)('a' + rnd() % 26);
                }
            }
        }
    }
    /* request */
    buf[n++] = 5;
    buf[n++] = (uint8_t)(rnd() % 4 ? 1 : rnd() % 5);
    buf[n++] = (uint8_t)(rnd() % 8 ? 0 : 1);
    static const uint8_t atyps[] = {1, 3, 4, 3, 1, 2};
    uint8_t atyp = atyps[rnd() % sizeof(atyps)];
    buf[n++] = atyp;
    size_t alen = atyp == 1 ? 4 : atyp == 4 ? 16 : 0;
    if (atyp == 3) {
        alen = rnd() % 20;
        buf[n++] = (uint8_t)alen;
        for (size_t i = 0; i < alen; i++) {
            buf[n++] = (uint8_t)(rnd() % 16 ? 0x21 + rnd() % 94 : rnd());
        }
        alen = 0;
    }
    for (size_t i = 0; i < alen + 2; i++) {
        buf[n++] = (uint8_t)rnd();
    }
    /* early data */
    for (size_t i = rnd() % 16; i > 0; i--) {
        buf[n++] = (uint8_t)rnd();
    }
    /* damage */
    for (size_t k = rnd() % 3; k > 0; k--) {
        buf[rnd() % n] = (uint8_t)rnd();
    }
    /* truncate sometimes */
    if (rnd() % 4 == 0) {
        n = rnd() % (n + 1);
    }
    return n;
}

static void test_random_garbage(void **state)
{
    (void)state;
    static uint8_t buf[MAX_CONV];
    static size_t cuts[MAX_CONV];
    size_t seen[3] = {0, 0, 0};
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = gen_conversation(buf);
        const pt_proxy_cred *auth = (rnd() & 1) ? &kCred : NULL;
        result a, b;
        feed_all(auth, buf, n, &a);
        size_t nc = 0, pos = 0;
        while (nc < MAX_CONV) {
            pos += 1 + rnd() % 5;
            if (pos >= n) {
                break;
            }
            cuts[nc++] = pos;
        }
        feed_cuts(auth, buf, n, cuts, nc, &b);
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
        cmocka_unit_test(test_greeting_only),
        cmocka_unit_test(test_greeting_no_acceptable_method),
        cmocka_unit_test(test_greeting_bad_version),
        cmocka_unit_test(test_greeting_255_methods),
        cmocka_unit_test(test_connect_ipv4),
        cmocka_unit_test(test_connect_ipv6),
        cmocka_unit_test(test_connect_domain_kept_as_name),
        cmocka_unit_test(test_connect_domain_255),
        cmocka_unit_test(test_pipelined_early_data),
        cmocka_unit_test(test_early_data_exact_split),
        cmocka_unit_test(test_request_errors),
        cmocka_unit_test(test_request_truncated_waits),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_auth_max_lengths),
        cmocka_unit_test(test_auth_wipes_buffer),
        cmocka_unit_test(test_cred_check),
        cmocka_unit_test(test_reply_code_mapping),
        cmocka_unit_test(test_reply_success),
        cmocka_unit_test(test_state_checks),
        cmocka_unit_test(test_random_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
