/* test_pt_decoy_http.c — the decoy web server engine (obfs/pt_decoy_http.c):
 * what nginx 1.22 would answer, byte for byte where it matters. The same
 * behaviours are checked against a real nginx by tests/probe/run_probes.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "pt_decoy_http.h"
#include "pt_err.h"
#include "pt_handshake.h"

#define T0 1000000u
static const pt_decoy_time kNow = {T0, 1700000000};

typedef struct run {
    char out[65536];
    size_t out_len;
    pt_decoy_close how;
    uint64_t deadline;
} run;

static pt_decoy *mk(pt_decoy_proto proto, const pt_decoy_site *site)
{
    pt_decoy_config cfg;
    pt_decoy_config_default(&cfg);
    cfg.site = site;
    pt_decoy *d;
    assert_int_equal(pt_decoy_new(&d, &cfg, proto, T0, kNow), PT_ERR_OK);
    return d;
}

static void drain(pt_decoy *d, run *r)
{
    const uint8_t *p;
    size_t n;
    while ((n = pt_decoy_output(d, &p)) > 0) {
        assert_true(r->out_len + n < sizeof(r->out));
        memcpy(r->out + r->out_len, p, n);
        r->out_len += n;
        pt_decoy_output_done(d, n, kNow);
    }
    r->out[r->out_len] = '\0';
    r->how = pt_decoy_close_how(d);
    r->deadline = pt_decoy_deadline(d);
}

static void feed(pt_decoy *d, run *r, const char *req, size_t len)
{
    assert_int_equal(pt_decoy_on_bytes(d, (const uint8_t *)req, len, kNow), PT_ERR_OK);
    drain(d, r);
}

static run *one(const char *req, const pt_decoy_site *site)
{
    static run r;
    memset(&r, 0, sizeof(r));
    pt_decoy *d = mk(PT_DECOY_HTTP1, site);
    feed(d, &r, req, strlen(req));
    pt_decoy_free(d);
    return &r;
}

static const pt_decoy_embedded *emb(const char *path)
{
    for (size_t i = 0; i < pt_decoy_embedded_count; i++) {
        if (strcmp(pt_decoy_embedded_files[i].path, path) == 0) {
            return &pt_decoy_embedded_files[i];
        }
    }
    fail_msg("no %s in the site", path);
    return NULL;
}

static void test_get_200(void **state)
{
    (void)state;
    run *r = one("GET / HTTP/1.1\r\nHost: example.org\r\n\r\n", NULL);
    const pt_decoy_embedded *e = emb("/index.html");
    char want[512];
    snprintf(want, sizeof(want),
             "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Tue, 14 Nov 2023 22:13:20 GMT\r\n"
             "Content-Type: text/html\r\nContent-Length: %zu\r\nLast-Modified: ",
             e->len);
    assert_memory_equal(r->out, want, strlen(want));
    char etag[64];
    snprintf(etag, sizeof(etag),
             "Connection: keep-alive\r\nETag: \"%llx-%zx\"\r\nAccept-Ranges: bytes\r\n\r\n",
             (unsigned long long)e->mtime, e->len);
    assert_non_null(strstr(r->out, etag));
    const char *body = strstr(r->out, "\r\n\r\n") + 4;
    assert_int_equal((size_t)(r->out + r->out_len - body), e->len);
    assert_memory_equal(body, e->data, e->len);
    assert_int_equal(r->how, PT_DECOY_OPEN);
    assert_int_equal(r->deadline, T0 + 75000); /* keepalive_timeout */
}

static void test_head_and_types(void **state)
{
    (void)state;
    run *r = one("HEAD /css/style.css HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", NULL);
    assert_non_null(strstr(r->out, "Content-Type: text/css\r\n"));
    assert_non_null(strstr(r->out, "Connection: close\r\n"));
    assert_true(strstr(r->out, "\r\n\r\n") + 4 == r->out + r->out_len); /* no body */
    assert_int_equal(r->how, PT_DECOY_CLOSE);
    r = one("GET /favicon.ico HTTP/1.1\r\nHost: a\r\n\r\n", NULL);
    assert_non_null(strstr(r->out, "Content-Type: image/x-icon\r\n"));
    r = one("GET /img/logo.png HTTP/1.1\r\nHost: a\r\n\r\n", NULL);
    assert_non_null(strstr(r->out, "Content-Type: image/png\r\n"));
    r = one("GET /robots.txt HTTP/1.0\r\n\r\n", NULL);
    assert_non_null(strstr(r->out, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(r->out, "Connection: close\r\n"));
}

static void test_conditional(void **state)
{
    (void)state;
    const pt_decoy_embedded *e = emb("/index.html");
    char req[512], lm[64];
    snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: a\r\nIf-None-Match: \"%llx-%zx\"\r\n\r\n",
             (unsigned long long)e->mtime, e->len);
    run *r = one(req, NULL);
    assert_memory_equal(r->out, "HTTP/1.1 304 Not Modified\r\nServer: nginx/1.22.1\r\n", 49);
    assert_null(strstr(r->out, "Content-Length"));
    assert_non_null(strstr(r->out, "ETag: "));
    /* the Last-Modified we send, back as If-Modified-Since */
    r = one("GET / HTTP/1.1\r\nHost: a\r\n\r\n", NULL);
    const char *p = strstr(r->out, "Last-Modified: ") + 15;
    snprintf(lm, sizeof(lm), "%.29s", p);
    snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: a\r\nIf-Modified-Since: %s\r\n\r\n", lm);
    r = one(req, NULL);
    assert_non_null(strstr(r->out, "304 Not Modified"));
    r = one("GET / HTTP/1.1\r\nHost: a\r\nIf-None-Match: \"0-0\"\r\n\r\n", NULL);
    assert_non_null(strstr(r->out, "200 OK"));
    r = one("GET / HTTP/1.1\r\nHost: a\r\nIf-None-Match: *\r\n\r\n", NULL);
    assert_non_null(strstr(r->out, "304 Not Modified"));
}

/* The three date forms nginx reads (ngx_parse_http_time) and what it does
 * not check; If-Match / If-Unmodified-Since (412); Expect: 100-continue;
 * headers nginx takes only once. tests/probe/ checks the same against
 * nginx itself. */
static void test_conditional_nginx_rules(void **state)
{
    (void)state;
    const pt_decoy_embedded *e = emb("/robots.txt");
    time_t t = (time_t)e->mtime;
    struct tm tm;
    assert_non_null(gmtime_r(&t, &tm));
    char d1123[64], d850[64], dasc[64], req[512];
    strftime(d1123, sizeof(d1123), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    char wday[16], mon[4];
    strftime(wday, sizeof(wday), "%A", &tm);
    strftime(mon, sizeof(mon), "%b", &tm);
    snprintf(d850, sizeof(d850), "%s, %02d-%s-%02d %02d:%02d:%02d GMT", wday, tm.tm_mday, mon,
             tm.tm_year % 100, tm.tm_hour, tm.tm_min, tm.tm_sec); /* RFC 850: 2-digit year */
    strftime(dasc, sizeof(dasc), "%a %b %e %H:%M:%S %Y", &tm);
#define IMS_REQ "GET /robots.txt HTTP/1.1\r\nHost: a\r\nIf-Modified-Since: %s\r\n\r\n"
    const char *same[] = {d1123, d850, dasc};
    for (size_t i = 0; i < 3; i++) {
        snprintf(req, sizeof(req), IMS_REQ, same[i]);
        assert_non_null(strstr(one(req, NULL)->out, "HTTP/1.1 304 Not Modified\r\n"));
    }
    char odd[64];
    snprintf(odd, sizeof(odd), "Xyz%s", d1123 + 3); /* the weekday is not read */
    snprintf(req, sizeof(req), IMS_REQ, odd);
    assert_non_null(strstr(one(req, NULL)->out, "304 Not Modified"));
    snprintf(req, sizeof(req), IMS_REQ, "Mon, 30 Feb 2026 10:00:00 GMT"); /* no such day */
    assert_non_null(strstr(one(req, NULL)->out, "200 OK"));
    snprintf(req, sizeof(req), IMS_REQ, "Sun, 06 Nov"); /* too short */
    assert_non_null(strstr(one(req, NULL)->out, "200 OK"));

    char etag[64];
    snprintf(etag, sizeof(etag), "\"%llx-%zx\"", (unsigned long long)e->mtime, e->len);
    snprintf(req, sizeof(req),
             "GET /robots.txt HTTP/1.1\r\nHost: a\r\nIf-Match: \"x\", %s\r\n\r\n", etag);
    assert_non_null(strstr(one(req, NULL)->out, "200 OK"));
    snprintf(req, sizeof(req), "GET /robots.txt HTTP/1.1\r\nHost: a\r\nIf-Match: W/%s\r\n\r\n",
             etag);
    run *r = one(req, NULL);
    assert_memory_equal(r->out, "HTTP/1.1 412 Precondition Failed\r\n", 34);
    assert_non_null(strstr(r->out, "<title>412 Precondition Failed</title>"));
    snprintf(req, sizeof(req),
             "GET /robots.txt HTTP/1.1\r\nHost: a\r\nIf-Unmodified-Since: soon\r\n\r\n");
    assert_non_null(strstr(one(req, NULL)->out, "412 Precondition Failed"));
    snprintf(req, sizeof(req),
             "GET /robots.txt HTTP/1.1\r\nHost: a\r\nIf-Unmodified-Since: %s\r\n\r\n", d850);
    assert_non_null(strstr(one(req, NULL)->out, "200 OK"));

    /* 100 Continue before a served file (even a 304), not before errors */
    r = one("GET /robots.txt HTTP/1.1\r\nHost: a\r\nExpect: 100-CONTINUE\r\n\r\n", NULL);
    assert_memory_equal(r->out, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n", 42);
    snprintf(req, sizeof(req),
             "GET /robots.txt HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
             "If-Modified-Since: %s\r\n\r\n", d1123);
    r = one(req, NULL);
    assert_memory_equal(r->out, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 304 Not Modified", 50);
    r = one("GET /nope HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n", NULL);
    assert_memory_equal(r->out, "HTTP/1.1 404 Not Found\r\n", 24);
    r = one("GET /robots.txt HTTP/1.0\r\nExpect: 100-continue\r\n\r\n", NULL);
    assert_memory_equal(r->out, "HTTP/1.1 200 OK\r\n", 17);

    /* unique headers, twice: 400 at once, before the request is complete */
    r = one("GET / HTTP/1.1\r\nHost: a\r\nIf-Match: *\r\nif-match: *\r\n", NULL);
    assert_memory_equal(r->out, "HTTP/1.1 400 Bad Request\r\n", 26);
    assert_int_equal(r->how, PT_DECOY_CLOSE);
    r = one("GET / HTTP/1.1\r\nHost: a\r\nCookie: a\r\nCookie: b\r\n\r\n", NULL);
    assert_non_null(strstr(r->out, "200 OK")); /* others may repeat */
#undef IMS_REQ
}

/* msie_padding: nginx's own error pages are 402 bytes longer for MSIE and
 * Chrome (not Firefox, whose UA has "Gecko/"; not Opera); the site's 404
 * page is a file and stays as it is. keepalive_disable msie6: POST only. */
static void test_msie_padding(void **state)
{
    (void)state;
    const char *chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                         "Chrome/126.0.0.0 Safari/537.36";
    const char *firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
    char req[512];
    snprintf(req, sizeof(req), "GET /img/ HTTP/1.1\r\nHost: a\r\nUser-Agent: %s\r\n\r\n", chrome);
    run *r = one(req, NULL);
    assert_non_null(strstr(r->out, "Content-Length: 555\r\n"));
    assert_non_null(strstr(r->out, "</html>\r\n<!-- a padding to disable MSIE and Chrome friendly "
                                   "error page -->\r\n"));
    snprintf(req, sizeof(req), "GET /img/ HTTP/1.1\r\nHost: a\r\nUser-Agent: %s\r\n\r\n", firefox);
    assert_non_null(strstr(one(req, NULL)->out, "Content-Length: 153\r\n"));
    r = one("GET /img/ HTTP/1.1\r\nHost: a\r\nUser-Agent: x MSIE 6.0 Opera\r\n\r\n", NULL);
    assert_non_null(strstr(r->out, "Content-Length: 153\r\n"));
    r = one("GET /img/ HTTP/1.1\r\nHost: a\r\nUser-Agent: Mozilla/4.0 (compatible; MSIE 7.0)"
            "\r\n\r\n", NULL);
    assert_non_null(strstr(r->out, "Content-Length: 555\r\n"));
    /* the first User-Agent counts */
    snprintf(req, sizeof(req),
             "GET /img/ HTTP/1.1\r\nHost: a\r\nUser-Agent: curl\r\nUser-Agent: %s\r\n\r\n", chrome);
    assert_non_null(strstr(one(req, NULL)->out, "Content-Length: 153\r\n"));
    snprintf(req, sizeof(req), "GET /nope HTTP/1.1\r\nHost: a\r\nUser-Agent: %s\r\n\r\n", chrome);
    r = one(req, NULL);
    assert_memory_equal(r->out, "HTTP/1.1 404 Not Found\r\n", 24);
    assert_null(strstr(r->out, "a padding"));

    const char *msie6 = "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)";
    snprintf(req, sizeof(req), "GET /robots.txt HTTP/1.1\r\nHost: a\r\nUser-Agent: %s\r\n\r\n",
             msie6);
    assert_int_equal(one(req, NULL)->how, PT_DECOY_OPEN);
    snprintf(req, sizeof(req),
             "POST /robots.txt HTTP/1.1\r\nHost: a\r\nUser-Agent: %s\r\nContent-Length: 0\r\n\r\n",
             msie6);
    assert_int_equal(one(req, NULL)->how, PT_DECOY_CLOSE);
}

static void test_range(void **state)
{
    (void)state;
    const pt_decoy_embedded *e = emb("/index.html");
    run *r = one("GET /index.html HTTP/1.1\r\nHost: a\r\nRange: bytes=0-9\r\n\r\n", NULL);
    assert_non_null(strstr(r->out, "HTTP/1.1 206 Partial Content\r\n"));
    char cr[64];
    snprintf(cr, sizeof(cr), "ETag: \"%llx-%zx\"\r\nContent-Range: bytes 0-9/%zu\r\n\r\n",
             (unsigned long long)e->mtime, e->len, e->len);
    assert_non_null(strstr(r->out, cr));
    assert_memory_equal(r->out + r->out_len - 10, e->data, 10);
    r = one("GET /index.html HTTP/1.1\r\nHost: a\r\nRange: bytes=999999-\r\n\r\n", NULL);
    assert_non_null(strstr(r->out, "416 Requested Range Not Satisfiable"));
    snprintf(cr, sizeof(cr), "Content-Range: bytes */%zu\r\n", e->len);
    assert_non_null(strstr(r->out, cr));
    r = one("GET /index.html HTTP/1.1\r\nHost: a\r\nRange: bytes=0-9,20-29\r\n\r\n", NULL);
    assert_non_null(
        strstr(r->out, "Content-Type: multipart/byteranges; boundary=0000000000000000000"));
    assert_non_null(strstr(r->out, "\r\nContent-Type: text/html\r\nContent-Range: bytes 20-29/"));
    r = one("GET /index.html HTTP/1.1\r\nHost: a\r\nRange: items=0-9\r\n\r\n", NULL);
    assert_non_null(strstr(r->out, "200 OK")); /* not bytes=: ignored */
}

static void test_keepalive_pipelining(void **state)
{
    (void)state;
    run *r = one("GET /robots.txt HTTP/1.1\r\nHost: a\r\n\r\nGET /nope HTTP/1.1\r\nHost: a\r\n\r\n"
                 "HEAD / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                 NULL);
    const char *a = strstr(r->out, "200 OK");
    const char *b = strstr(r->out, "404 Not Found");
    const char *c = strstr(b ? b : r->out, "200 OK");
    assert_true(a && b && c && a < b && b < c);
    assert_int_equal(r->how, PT_DECOY_CLOSE);
    /* bytes after a Connection: close request: lingering close */
    r = one("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGARBAGE", NULL);
    assert_int_equal(r->how, PT_DECOY_LINGER);
    /* body of a POST is discarded, then the next request is answered */
    r = one(
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /robots.txt HTTP/1.1\r\n"
        "Host: a\r\n\r\n",
        NULL);
    assert_non_null(strstr(r->out, "405 Not Allowed"));
    assert_non_null(strstr(r->out, "Content-Type: text/plain"));
    r = one(
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        "GET /robots.txt HTTP/1.1\r\nHost: a\r\n\r\n",
        NULL);
    assert_non_null(strstr(r->out, "Content-Type: text/plain"));
}

static void expect_400_now(const char *bytes, size_t len)
{
    run r;
    memset(&r, 0, sizeof(r));
    pt_decoy *d = mk(PT_DECOY_HTTP1, NULL);
    feed(d, &r, bytes, len);
    assert_non_null(strstr(r.out, "HTTP/1.1 400 Bad Request\r\n"));
    assert_non_null(strstr(r.out, "<center>nginx/1.22.1</center>"));
    assert_int_equal(r.how, PT_DECOY_CLOSE);
    pt_decoy_free(d);
}

static void test_garbage_first_bad_byte(void **state)
{
    (void)state;
    expect_400_now("\x01", 1);
    expect_400_now("x", 1); /* lower case: not a method */
    expect_400_now("GET /\x00", 6);
    expect_400_now("GET / HTTX", 10);
    expect_400_now("GET / HTTP/1.1\r\nBad ", 20); /* space in a name, before the line ends */
    expect_400_now("GET / HTTP/1.1\r\n:x", 18);
    expect_400_now("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 36);
    expect_400_now("GET / HTTP/1.1\r\n\r\n", 18); /* HTTP/1.1 needs Host */
    run *r = one("GET / HTTP/2.0\r\n", NULL);
    assert_non_null(strstr(r->out, "505 HTTP Version Not Supported"));
    r = one("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", NULL);
    assert_non_null(strstr(r->out, "501 Not Implemented"));
    r = one("TRACE / HTTP/1.1\r\nHost: a\r\n\r\n", NULL);
    assert_non_null(strstr(r->out, "405 Not Allowed\r\n"));
    assert_non_null(strstr(r->out, "Connection: close"));
    /* a header line without a colon is ignored, as nginx does */
    r = one("GET / HTTP/1.1\r\nHost: a\r\nBadheader\r\n\r\n", NULL);
    assert_non_null(strstr(r->out, "200 OK"));
    /* incomplete but valid so far: nothing yet */
    r = one("GET / HTTP/1.1\r\nHost: a\r\n", NULL);
    assert_int_equal(r->out_len, 0);
    assert_int_equal(r->how, PT_DECOY_OPEN);
    assert_int_equal(r->deadline, T0 + 60000); /* client_header_timeout from the start */
}

static void test_limits(void **state)
{
    (void)state;
    char big[12000];
    memcpy(big, "GET /", 5);
    memset(big + 5, 'a', 9000);
    big[9005] = '\0';
    run *r = one(big, NULL);
    assert_non_null(strstr(r->out, "414 Request-URI Too Large"));
    snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ");
    size_t n = strlen(big);
    memset(big + n, 'b', 9000);
    big[n + 9000] = '\0';
    r = one(big, NULL);
    assert_non_null(strstr(r->out, "<title>400 Request Header Or Cookie Too Large</title>"));
}

static void test_timeouts(void **state)
{
    (void)state;
    run r;
    memset(&r, 0, sizeof(r));
    pt_decoy *d = mk(PT_DECOY_HTTP1, NULL);
    drain(d, &r);
    assert_int_equal(r.deadline, T0 + 60000);
    pt_decoy_time later = {T0 + 60000, kNow.unix_s + 60};
    pt_decoy_on_timer(d, later);
    assert_int_equal(pt_decoy_close_how(d), PT_DECOY_CLOSE); /* idle: close_notify */
    pt_decoy_free(d);

    memset(&r, 0, sizeof(r));
    d = mk(PT_DECOY_HTTP1, NULL);
    feed(d, &r, "GET /", 5);
    pt_decoy_on_timer(d, later);
    assert_int_equal(pt_decoy_close_how(d), PT_DECOY_CLOSE_QUIET); /* c->timedout */
    pt_decoy_free(d);
}

static void test_plain_on_tls_port(void **state)
{
    (void)state;
    run r;
    memset(&r, 0, sizeof(r));
    pt_decoy *d = mk(PT_DECOY_PLAIN_ON_TLS, NULL);
    feed(d, &r, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 27);
    assert_non_null(
        strstr(r.out, "<title>400 The plain HTTP request was sent to HTTPS port</title>"));
    assert_non_null(strstr(r.out, "Content-Length: 255\r\n"));
    assert_int_equal(r.how, PT_DECOY_CLOSE);
    pt_decoy_free(d);
}

static void test_traversal(void **state)
{
    (void)state;
    run *r = one("GET /../etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n", NULL);
    assert_non_null(strstr(r->out, "400 Bad Request"));
    r = one("GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n", NULL);
    assert_non_null(strstr(r->out, "400 Bad Request"));
    r = one("GET /css/../index.html HTTP/1.1\r\nHost: a\r\n\r\n", NULL);
    assert_non_null(strstr(r->out, "200 OK"));
    r = one("GET /%00 HTTP/1.1\r\nHost: a\r\n\r\n", NULL);
    assert_non_null(strstr(r->out, "400 Bad Request"));
    r = one("GET /css HTTP/1.1\r\nHost: a.example\r\n\r\n", NULL);
    assert_non_null(strstr(r->out, "301 Moved Permanently"));
    assert_non_null(strstr(r->out, "Location: https://a.example/css/\r\n"));
    r = one("GET /css/ HTTP/1.1\r\nHost: a\r\n\r\n", NULL);
    assert_non_null(strstr(r->out, "403 Forbidden"));

    /* directory mode: a symlink out of the root is not there */
    char root[] = "/tmp/pt-decoy-XXXXXX";
    assert_non_null(mkdtemp(root));
    char p[256];
    snprintf(p, sizeof(p), "%s/index.html", root);
    FILE *f = fopen(p, "w");
    fputs("<p>hi</p>\n", f);
    fclose(f);
    snprintf(p, sizeof(p), "%s/passwd", root);
    assert_int_equal(symlink("/etc/passwd", p), 0);
    snprintf(p, sizeof(p), "%s/up", root);
    assert_int_equal(symlink("..", p), 0);
    pt_decoy_site *site;
    assert_int_equal(pt_decoy_site_dir_new(&site, root), PT_ERR_OK);
    r = one("GET / HTTP/1.1\r\nHost: a\r\n\r\n", site);
    assert_non_null(strstr(r->out, "<p>hi</p>"));
    r = one("GET /passwd HTTP/1.1\r\nHost: a\r\n\r\n", site);
    assert_non_null(strstr(r->out, "404 Not Found"));
    assert_null(strstr(r->out, "root:"));
    r = one("GET /up/etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n", site);
    assert_non_null(strstr(r->out, "404 Not Found"));
    r = one("GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n", site);
    assert_non_null(strstr(r->out, "400 Bad Request"));
    r = one("GET /..%2f..%2fetc/passwd HTTP/1.1\r\nHost: a\r\n\r\n", site);
    assert_non_null(strstr(r->out, "400 Bad Request"));
    assert_null(strstr(r->out, "root:"));
    pt_decoy_site_free(site);
    snprintf(p, sizeof(p), "%s/passwd", root);
    unlink(p);
    snprintf(p, sizeof(p), "%s/up", root);
    unlink(p);
    snprintf(p, sizeof(p), "%s/index.html", root);
    unlink(p);
    rmdir(root);
}

/* ---- HTTP/2 through an nghttp2 client session, all in memory ---- */

typedef struct h2c {
    int status;
    size_t data;
    int closed;
} h2c;

static int c_on_header(nghttp2_session *s, const nghttp2_frame *fr, const uint8_t *name, size_t nl,
                       const uint8_t *value, size_t vl, uint8_t flags, void *user)
{
    (void)s;
    (void)fr;
    (void)flags;
    h2c *c = user;
    if (nl == 7 && memcmp(name, ":status", 7) == 0) {
        c->status = (int)strtol((const char *)value, NULL, 10);
        (void)vl;
    }
    return 0;
}
static int c_on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *d, size_t n,
                     void *user)
{
    (void)s;
    (void)flags;
    (void)id;
    (void)d;
    ((h2c *)user)->data += n;
    return 0;
}
static int c_on_close(nghttp2_session *s, int32_t id, uint32_t code, void *user)
{
    (void)s;
    (void)id;
    (void)code;
    ((h2c *)user)->closed = 1;
    return 0;
}

/* A GET over HTTP/2 with an nghttp2 client. |preface_sent|: the server
 * preface went out before the engine (PROTOCOL.md §5.3, the link sends it);
 * the client gets those bytes first, the engine must not repeat them, and
 * the client's ACK of those SETTINGS must be what the engine expects. */
static void h2_get(int preface_sent)
{
    nghttp2_session_callbacks *cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_header_callback(cb, c_on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, c_on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, c_on_close);
    h2c c = {0, 0, 0};
    nghttp2_session *cs;
    assert_int_equal(nghttp2_session_client_new(&cs, cb, &c), 0);
    nghttp2_session_callbacks_del(cb);
    nghttp2_submit_settings(cs, NGHTTP2_FLAG_NONE, NULL, 0);
    nghttp2_nv nv[] = {
        {(uint8_t *)":method", (uint8_t *)"GET", 7, 3, 0},
        {(uint8_t *)":scheme", (uint8_t *)"https", 7, 5, 0},
        {(uint8_t *)":authority", (uint8_t *)"a", 10, 1, 0},
        {(uint8_t *)":path", (uint8_t *)"/about.html", 5, 11, 0},
    };
    assert_true(nghttp2_submit_request(cs, NULL, nv, 4, NULL, NULL) > 0);

    pt_decoy_config cfg;
    pt_decoy_config_default(&cfg);
    cfg.h2_preface_sent = preface_sent;
    pt_decoy *d;
    assert_int_equal(pt_decoy_new(&d, &cfg, PT_DECOY_HTTP2, T0, kNow), PT_ERR_OK);
    const uint8_t *p;
    size_t n = pt_decoy_output(d, &p);
    if (preface_sent) {
        assert_int_equal(n, 0);
        assert_int_equal(nghttp2_session_mem_recv(cs, pt_hs_h2_preface, PT_HS_H2_PREFACE_LEN),
                         PT_HS_H2_PREFACE_LEN);
    } else {
        /* nginx's preface, exactly: SETTINGS (3 entries), WINDOW_UPDATE */
        assert_int_equal(n, PT_HS_H2_PREFACE_LEN);
        assert_memory_equal(p, pt_hs_h2_preface, PT_HS_H2_PREFACE_LEN);
    }
    int saw_goaway = 0, saw_ack = 0;
    for (int round = 0; round < 8 && !c.closed; round++) {
        n = pt_decoy_output(d, &p);
        if (n) {
            for (size_t off = 0; off + 9 <= n;
                 off += 9 + ((size_t)p[off] << 16 | (size_t)p[off + 1] << 8 | p[off + 2])) {
                saw_goaway |= p[off + 3] == 0x07;
                saw_ack |= p[off + 3] == 0x04 && (p[off + 4] & 1);
            }
            assert_int_equal(nghttp2_session_mem_recv(cs, p, n), (ssize_t)n);
            pt_decoy_output_done(d, n, kNow);
        }
        const uint8_t *q;
        ssize_t m;
        while ((m = nghttp2_session_mem_send(cs, &q)) > 0) {
            assert_int_equal(pt_decoy_on_bytes(d, q, (size_t)m, kNow), PT_ERR_OK);
        }
    }
    assert_int_equal(c.status, 200);
    assert_int_equal(c.data, emb("/about.html")->len);
    assert_false(saw_goaway); /* our SETTINGS ACK was expected */
    assert_true(saw_ack);     /* and the client's SETTINGS acknowledged */
    assert_int_equal(pt_decoy_close_how(d), PT_DECOY_OPEN);
    assert_int_equal(pt_decoy_deadline(d), T0 + 75000);
    pt_decoy_time later = {T0 + 75000, kNow.unix_s + 75};
    pt_decoy_on_timer(d, later);
    n = pt_decoy_output(d, &p);
    assert_true(n >= 17 && p[3] == 0x07); /* GOAWAY */
    assert_int_equal(pt_decoy_close_how(d), PT_DECOY_CLOSE);
    pt_decoy_free(d);
    nghttp2_session_del(cs);
}

static void test_h2_get(void **state)
{
    (void)state;
    h2_get(0);
}

static void test_h2_get_preface_sent(void **state)
{
    (void)state;
    h2_get(1);
}

/* The preface was sent and the client says nothing: the engine sends
 * nothing either until nginx's 60 s, then GOAWAY(NO_ERROR) alone. */
static void test_h2_silent_preface_sent(void **state)
{
    (void)state;
    pt_decoy_config cfg;
    pt_decoy_config_default(&cfg);
    cfg.h2_preface_sent = 1;
    pt_decoy *d;
    assert_int_equal(pt_decoy_new(&d, &cfg, PT_DECOY_HTTP2, T0, kNow), PT_ERR_OK);
    const uint8_t *p;
    assert_int_equal(pt_decoy_output(d, &p), 0);
    assert_int_equal(pt_decoy_deadline(d), T0 + 60000);
    pt_decoy_time later = {T0 + 60000, kNow.unix_s + 60};
    pt_decoy_on_timer(d, later);
    size_t n = pt_decoy_output(d, &p);
    assert_int_equal(n, 17);
    assert_int_equal(p[3], 0x07);
    assert_int_equal(p[16], 0); /* NO_ERROR */
    assert_int_equal(pt_decoy_close_how(d), PT_DECOY_CLOSE);
    pt_decoy_free(d);
}

/* nginx `gzip on`: text/html, HTTP/1.1, one chunk, weak ETag; the same
 * bytes as nginx (tests/probe compares them with the real one). */
static void test_gzip(void **state)
{
    (void)state;
    const pt_decoy_embedded *e = emb("/index.html");
    run *r = one("GET / HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip, deflate\r\n"
                 "Range: bytes=0-9\r\n\r\n",
                 NULL);
    assert_non_null(strstr(r->out, "HTTP/1.1 200 OK\r\n")); /* no range on gzip */
    assert_null(strstr(r->out, "Content-Length"));
    assert_null(strstr(r->out, "Accept-Ranges"));
    assert_non_null(strstr(r->out, "Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n"
                                   "ETag: W/\""));
    assert_non_null(strstr(r->out, "\r\nContent-Encoding: gzip\r\n\r\n"));
    const char *chunk = strstr(r->out, "\r\n\r\n") + 4;
    char *end;
    unsigned long zlen = strtoul(chunk, &end, 16);
    const uint8_t *z = (const uint8_t *)end + 2;
    assert_int_equal(z[0], 0x1f);
    assert_int_equal(z[8], 0x04); /* XFL: level 1, as nginx's */
    assert_memory_equal(z + zlen, "\r\n0\r\n\r\n", 7);
    uint8_t plain[8192];
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);
    zs.next_in = (Bytef *)(uintptr_t)z;
    zs.avail_in = (uInt)zlen;
    zs.next_out = plain;
    zs.avail_out = sizeof(plain);
    assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
    assert_int_equal(zs.total_out, e->len);
    assert_memory_equal(plain, e->data, e->len);
    inflateEnd(&zs);
    /* not for text/plain, HTTP/1.0, q=0, HEAD, or a request through a proxy */
    r = one("GET /robots.txt HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n\r\n", NULL);
    assert_non_null(strstr(r->out, "Content-Length: "));
    r = one("GET / HTTP/1.0\r\nAccept-Encoding: gzip\r\n\r\n", NULL);
    assert_non_null(strstr(r->out, "Content-Length: "));
    r = one("GET / HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip;q=0\r\n\r\n", NULL);
    assert_non_null(strstr(r->out, "Content-Length: "));
    r = one("HEAD / HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n\r\n", NULL);
    assert_non_null(strstr(r->out, "Content-Length: "));
    r = one("GET / HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\nVia: 1.1 p\r\n\r\n", NULL);
    assert_non_null(strstr(r->out, "Content-Length: "));
    /* error pages 403/404 are compressed too, 400 is not */
    r = one("GET /css/ HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n\r\n", NULL);
    assert_non_null(strstr(r->out, "403 Forbidden\r\n"));
    assert_non_null(strstr(r->out, "Content-Encoding: gzip"));
}

static void test_error_pages(void **state)
{
    (void)state;
    char buf[1024];
    size_t n = pt_decoy_error_page(buf, sizeof(buf), "nginx/1.22.1", 400);
    const char *want = "<html>\r\n<head><title>400 Bad Request</title></head>\r\n<body>\r\n"
                       "<center><h1>400 Bad Request</h1></center>\r\n<hr><center>nginx/1.22.1"
                       "</center>\r\n</body>\r\n</html>\r\n";
    assert_int_equal(n, strlen(want));
    assert_int_equal(n, 157); /* measured on Debian 12's nginx */
    assert_memory_equal(buf, want, n);
    assert_int_equal(pt_decoy_error_page(buf, sizeof(buf), "nginx/1.22.1", 497), 255);
    assert_int_equal(pt_decoy_error_page(buf, sizeof(buf), "nginx/1.22.1", 494), 233);
    assert_int_equal(pt_decoy_error_page(buf, sizeof(buf), "nginx/1.22.1", 414), 177);
    assert_int_equal(pt_decoy_error_page(buf, sizeof(buf), "nginx/1.22.1", 416), 197);
    assert_int_equal(pt_decoy_error_page(buf, sizeof(buf), "nginx/1.22.1", 301), 169);
    assert_int_equal(pt_decoy_error_page(buf, sizeof(buf), "nginx/1.22.1", 403), 153);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_200),
        cmocka_unit_test(test_head_and_types),
        cmocka_unit_test(test_conditional),
        cmocka_unit_test(test_conditional_nginx_rules),
        cmocka_unit_test(test_msie_padding),
        cmocka_unit_test(test_range),
        cmocka_unit_test(test_keepalive_pipelining),
        cmocka_unit_test(test_garbage_first_bad_byte),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_timeouts),
        cmocka_unit_test(test_plain_on_tls_port),
        cmocka_unit_test(test_traversal),
        cmocka_unit_test(test_h2_get),
        cmocka_unit_test(test_h2_get_preface_sent),
        cmocka_unit_test(test_h2_silent_preface_sent),
        cmocka_unit_test(test_gzip),
        cmocka_unit_test(test_error_pages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
