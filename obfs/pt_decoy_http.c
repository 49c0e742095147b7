/* pt_decoy_http.c — the decoy web server engine; see pt_decoy_http.h.
 *
 * The HTTP/1 parser is a byte-at-a-time state machine after nginx 1.22's
 * ngx_http_parse_request_line / ngx_http_parse_header_line (src/http/
 * ngx_http_parse.c), so it rejects at the same byte nginx does, and
 * resumes where it stopped when more bytes arrive (linear in the input).
 * Response headers, their order and the error pages are nginx's
 * (ngx_http_header_filter_module.c, ngx_http_special_response.c), checked
 * against the real thing by tests/probe/run_probes.py.
 */
#include "pt_decoy_http.h"

#include <ctype.h>
#include <stdarg.h>
#include <sys/types.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <zlib.h>

#include "pt_err.h"
#include "pt_handshake.h"

/* nginx defaults: client_header_buffer_size 1k, large_client_header_buffers
 * 4 8k. A request line or header line of 8 KiB or more cannot fit. */
#define LARGE_BUF 8192
#define HEAD_MAX (4 * LARGE_BUF)
#define IN_MAX (HEAD_MAX + 16384 + 1024)
/* Room beyond IN_MAX: wants_read turns 0 at IN_MAX, and one read (a TLS
 * record, a libuv read of at most 64 KiB) already under way still fits. */
#define IN_SLACK 65536
/* Stop parsing pipelined requests while this much output waits. */
#define OUT_HIGH (256u * 1024)
#define OUT_MAX (64u << 20)

typedef enum dstate {
    D_HEAD, /* reading a request line and headers */
    D_BODY, /* discarding a request body */
    D_H2,   /* HTTP/2 session */
    D_DONE, /* close decided; input ignored */
} dstate;

static const char *const kStateNames[] = {"HEAD", "BODY", "H2", "DONE"};

#ifdef PT_DECOY_DEBUG
#define DECOY_LOG(...) fprintf(stderr, "decoy: " __VA_ARGS__)
#else
#define DECOY_LOG(...) ((void)0)
#endif

/* Request-line states (ngx_http_parse_request_line). */
enum {
    RL_START = 0,
    RL_METHOD,
    RL_SP_BEFORE_URI,
    RL_SCHEME,
    RL_SCHEME_SLASH,
    RL_SCHEME_SLASH2,
    RL_HOST,
    RL_URI,
    RL_SP_AFTER_URI,
    RL_H,
    RL_HT,
    RL_HTT,
    RL_HTTP,
    RL_MAJOR_FIRST,
    RL_MAJOR,
    RL_MINOR_FIRST,
    RL_MINOR,
    RL_SP_AFTER_VERSION,
    RL_ALMOST_DONE,
    RL_DONE,
};

/* Header-line states (ngx_http_parse_header_line, 1.21.1+ rules). */
enum {
    H_START = 0,
    H_NAME,
    H_SP_BEFORE_VALUE,
    H_VALUE,
    H_SP_AFTER_VALUE,
    H_ALMOST_DONE,
    H_HEADERS_ALMOST_DONE,
};

enum { M_GET = 1, M_HEAD, M_POST, M_TRACE, M_OTHER };

typedef struct span {
    size_t off, len;
} span;

/* Request headers nginx 1.22 takes at most once
 * (ngx_http_process_unique_header_line: "client sent duplicate header
 * line", 400), besides Host ("duplicate host header", checked with its
 * value); the probe suite checks the list against nginx. */
static const char *const kUnique[] = {
    "if-modified-since", "if-unmodified-since", "if-match",       "if-none-match",
    "if-range",          "expect",              "authorization",  "content-range",
    "content-length",    "transfer-encoding"};

/* unique_bit: the bit of header |name| in kUnique, 0 if not there. */
static unsigned unique_bit(const uint8_t *name, size_t n)
{
    for (size_t i = 0; i < sizeof(kUnique) / sizeof(kUnique[0]); i++) {
        if (strlen(kUnique[i]) == n && strncasecmp((const char *)name, kUnique[i], n) == 0) {
            return 1u << i;
        }
    }
    return 0;
}

typedef struct h2_stream {
    struct h2_stream *next;
    int32_t id;
    int method; /* M_* */
    char path[LARGE_BUF];
    size_t path_len;
    char range[256], inm[256], ims[64], if_range[128], ae[256], if_match[256], iums[64];
    size_t range_len, inm_len, ims_len, if_range_len, ae_len, if_match_len, iums_len;
    int has_range, has_inm, has_ims, has_if_range, has_ae, has_if_match, has_iums, bad;
    unsigned seen_unique; /* unique_bit() of each header seen (kUnique) */
    int has_ua, ua_pad, msie6; /* the first user-agent (user_agent_flags) */
    size_t splits[16];         /* body offsets where a DATA frame must end */
    int nsplits;
    struct h2_stream *qnext;   /* waiting to be answered (d->h2_queue) */
    uint8_t *body;
    size_t body_len, body_off;
} h2_stream;

struct pt_decoy {
    pt_decoy_config cfg;
    const pt_decoy_site *site;
    pt_decoy_proto proto;
    dstate state;
    pt_decoy_close close_how;
    uint64_t deadline;
    int quiet_timeout; /* timing out now is nginx's c->timedout close */
    int64_t unix_now;

    /* input not yet consumed; |pos| is where the parser stands */
    uint8_t *in;
    size_t in_len, pos;
    size_t req_start; /* first byte of this request (after leading CRLFs) */
    int first_request;
    int got_request_bytes; /* this request has started */

    /* request line */
    int rl;
    span method, uri, host_in_uri;
    int m;
    int major, minor;
    int http09;
    /* header lines */
    int hs;
    size_t line_start, name_end, value_start, value_end;
    int invalid_header;
    /* headers that matter */
    span host, connection, te, range, ims, inm, if_range, accept_encoding, if_match, iums, cl;
    int has_host, has_cl, has_te, has_range, has_ims, has_inm, has_if_range, has_ae, has_via;
    int has_if_match, has_iums;
    unsigned seen_unique; /* unique_bit() of each header seen (kUnique) */
    int expect_100;       /* "Expect: 100-continue" */
    int has_ua, ua_pad, msie6; /* the first User-Agent (user_agent_flags) */
    int gzip_ok; /* this request may get a gzipped answer (nginx `gzip on`) */
    uint64_t content_length;
    /* A body still to come after the answer is read and dropped under
     * nginx's lingering timers (ngx_http_finalize_connection with
     * discard_body: lingering_timeout 5 s between reads, lingering_time 30 s
     * in all); when they run out the connection closes quietly. */
    int body_too_large; /* the answer was 413 */
    uint64_t linger_until;

    /* body discard */
    uint64_t body_left;
    int chunked;
    int ch_state;
    uint64_t ch_size;
    int keepalive;

    /* output */
    uint8_t *out;
    size_t out_len, out_off, out_cap;

    /* HTTP/2 */
    nghttp2_session *h2;
    h2_stream *streams;
    int h2_goaway_sent;
    int h2_had_stream;
    nghttp2_hd_deflater *huff; /* only its Huffman coder is used (nothing indexed) */
    /* Header blocks as nginx writes them, waiting for nghttp2 to send the
     * HEADERS frame they replace (nghttp2 may close the stream as it hands
     * the frame out, so they are not the stream's). */
    struct hblock *hblocks;
    int h2_table_update;       /* the client set HEADER_TABLE_SIZE (nginx: table_update) */
    /* Responses go one at a time, in the order the requests ended: nginx
     * queues a small answer's HEADERS and DATA together before it reads the
     * next request, where nghttp2 would send every HEADERS before any DATA.
     * h2_busy: the stream whose body is being sent (0: none). */
    int32_t h2_busy;
    h2_stream *h2_queue, *h2_queue_tail;
    size_t h2_out_skip;        /* bytes of a frame nghttp2 is still handing out */
    /* Input is given to nghttp2 one frame at a time (h2_process): the
     * client preface still to come, then the current frame's header bytes
     * so far and the payload bytes still to come. */
    size_t h2_preface_left;
    uint8_t h2_hdr[9];
    size_t h2_hdr_got, h2_payload_left;
    int h2_skip; /* the current frame is dropped (h2_ignored) */
};

/* nginx's ngx_next_temp_number: one counter per process (one loop). */
static uint64_t g_multipart_counter;

static void set_state(pt_decoy *d, dstate s)
{
    DECOY_LOG("%p %s -> %s\n", (void *)d, kStateNames[d->state], kStateNames[s]);
    (void)kStateNames;
    d->state = s;
}

void pt_decoy_config_default(pt_decoy_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->site = NULL;
    cfg->server = "nginx/1.22.1";
    cfg->port = 443;
    cfg->client_header_timeout_ms = 60000;
    cfg->keepalive_timeout_ms = 75000;
}

/* ---- output --------------------------------------------------------------- */

static int out_reserve(pt_decoy *d, size_t add)
{
    if (d->out_off > 0 && d->out_off == d->out_len) {
        d->out_off = d->out_len = 0;
    }
    size_t need = d->out_len + add;
    if (need > OUT_MAX) {
        return PT_ERR_NOMEM;
    }
    if (need <= d->out_cap) {
        return PT_ERR_OK;
    }
    if (d->out_off > 0) {
        memmove(d->out, d->out + d->out_off, d->out_len - d->out_off);
        d->out_len -= d->out_off;
        d->out_off = 0;
        need = d->out_len + add;
        if (need <= d->out_cap) {
            return PT_ERR_OK;
        }
    }
    size_t cap = d->out_cap ? d->out_cap : 4096;
    while (cap < need) {
        cap *= 2;
    }
    uint8_t *p = realloc(d->out, cap);
    if (!p) {
        return PT_ERR_NOMEM;
    }
    d->out = p;
    d->out_cap = cap;
    return PT_ERR_OK;
}

static int out_add(pt_decoy *d, const void *p, size_t n)
{
    if (n == 0) {
        return PT_ERR_OK;
    }
    int rc = out_reserve(d, n);
    if (rc != PT_ERR_OK) {
        return rc;
    }
    memcpy(d->out + d->out_len, p, n);
    d->out_len += n;
    return PT_ERR_OK;
}

static int out_str(pt_decoy *d, const char *s)
{
    return out_add(d, s, strlen(s));
}

static int out_fmt(pt_decoy *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int out_fmt(pt_decoy *d, const char *fmt, ...)
{
    char buf[LARGE_BUF + 512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(buf)) {
        return PT_ERR_NOBUFS;
    }
    return out_add(d, buf, (size_t)n);
}

static size_t out_pending(const pt_decoy *d)
{
    return d->out_len - d->out_off;
}

/* ---- dates, status lines, error pages ---------------------------------------- */

static const char *const kWday[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const kMon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* RFC 1123 date as nginx writes it: "Sun, 22 Nov 2026 02:19:23 GMT". */
static void http_date(char out[32], int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm)) {
        memset(&tm, 0, sizeof(tm));
    }
    snprintf(out, 32, "%s, %02d %s %04d %02d:%02d:%02d GMT", kWday[tm.tm_wday % 7], tm.tm_mday,
             kMon[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Parse an HTTP date as nginx's ngx_parse_http_time does (nginx 1.22,
 * src/core/ngx_parse_time.c), so a conditional request gets the answer
 * nginx gives: RFC 1123 ("Sun, 06 Nov 1994 08:49:37 GMT"), RFC 850
 * ("Sunday, 06-Nov-94 08:49:37 GMT") and asctime ("Sun Nov  6 08:49:37
 * 1994"); like nginx it ignores the weekday and what follows the time,
 * reads a month from its first letters, and checks the day against the
 * month. -1 if it is none of them. Every read is within |n|: the length
 * checks are nginx's, which bound the fixed-width fields that follow. */
static int64_t parse_http_date(const char *v, size_t n)
{
    static const int mday[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    enum { NO = 0, RFC822, RFC850, ISOC } fmt = NO;
    const unsigned char *s = (const unsigned char *)v;
    size_t p = 0;
    int day = 32, month, year = 2038, hour, min, sec;
#define DIG(i) (s[(i)] >= '0' && s[(i)] <= '9')
#define D2(i) ((s[(i)] - '0') * 10 + (s[(i) + 1] - '0'))
    for (; p < n; p++) {
        if (s[p] == ',') {
            break;
        }
        if (s[p] == ' ') {
            fmt = ISOC;
            break;
        }
    }
    if (p == n) {
        return -1; /* neither ',' nor ' ' */
    }
    for (p++; p < n && s[p] == ' '; p++) {
    }
    if (n - p < 18) {
        return -1;
    }
    if (fmt != ISOC) {
        if (!DIG(p) || !DIG(p + 1)) {
            return -1;
        }
        day = D2(p);
        p += 2;
        if (s[p] == ' ') {
            if (n - p < 18) {
                return -1;
            }
            fmt = RFC822;
        } else if (s[p] == '-') {
            fmt = RFC850;
        } else {
            return -1;
        }
        p++;
    }
    switch (s[p]) {
    case 'J':
        month = s[p + 1] == 'a' ? 0 : s[p + 2] == 'n' ? 5 : 6;
        break;
    case 'F':
        month = 1;
        break;
    case 'M':
        month = s[p + 2] == 'r' ? 2 : 4;
        break;
    case 'A':
        month = s[p + 1] == 'p' ? 3 : 7;
        break;
    case 'S':
        month = 8;
        break;
    case 'O':
        month = 9;
        break;
    case 'N':
        month = 10;
        break;
    case 'D':
        month = 11;
        break;
    default:
        return -1;
    }
    p += 3;
    if ((fmt == RFC822 && s[p] != ' ') || (fmt == RFC850 && s[p] != '-')) {
        return -1;
    }
    p++;
    if (fmt == RFC822) {
        if (!DIG(p) || !DIG(p + 1) || !DIG(p + 2) || !DIG(p + 3)) {
            return -1;
        }
        year = D2(p) * 100 + D2(p + 2);
        p += 4;
    } else if (fmt == RFC850) {
        if (!DIG(p) || !DIG(p + 1)) {
            return -1;
        }
        year = D2(p);
        year += year < 70 ? 2000 : 1900;
        p += 2;
    }
    if (fmt == ISOC) {
        if (s[p] == ' ') {
            p++;
        }
        if (!DIG(p)) {
            return -1;
        }
        day = s[p++] - '0';
        if (s[p] != ' ') {
            if (!DIG(p)) {
                return -1;
            }
            day = day * 10 + (s[p++] - '0');
        }
        if (n - p < 14) {
            return -1;
        }
    }
    if (s[p++] != ' ' || !DIG(p) || !DIG(p + 1)) {
        return -1;
    }
    hour = D2(p);
    p += 2;
    if (s[p++] != ':' || !DIG(p) || !DIG(p + 1)) {
        return -1;
    }
    min = D2(p);
    p += 2;
    if (s[p++] != ':' || !DIG(p) || !DIG(p + 1)) {
        return -1;
    }
    sec = D2(p);
    if (fmt == ISOC) {
        p += 2;
        if (s[p++] != ' ' || !DIG(p) || !DIG(p + 1) || !DIG(p + 2) || !DIG(p + 3)) {
            return -1;
        }
        year = D2(p) * 100 + D2(p + 2);
    }
#undef DIG
#undef D2
    if (hour > 23 || min > 59 || sec > 59) {
        return -1;
    }
    if (day == 29 && month == 1) {
        if ((year & 3) || (year % 100 == 0 && year % 400 != 0)) {
            return -1;
        }
    } else if (day > mday[month]) {
        return -1;
    }
    /* nginx: the year starts in March, months count from 1 (Gauss) */
    if (--month <= 0) {
        month += 12;
        year -= 1;
    }
    int64_t days = 365 * (int64_t)year + year / 4 - year / 100 + year / 400 + 367 * month / 12 -
                   30 + day - 1 - 719527 + 31 + 28;
    return days * 86400 + hour * 3600 + min * 60 + sec;
}

static const char *status_text(int status)
{
    switch (status) {
    case 200:
        return "200 OK";
    case 206:
        return "206 Partial Content";
    case 301:
        return "301 Moved Permanently";
    case 304:
        return "304 Not Modified";
    case 400:
        return "400 Bad Request";
    case 403:
        return "403 Forbidden";
    case 404:
        return "404 Not Found";
    case 405:
        return "405 Not Allowed";
    case 408:
        return "408 Request Time-out";
    case 412:
        return "412 Precondition Failed";
    case 413:
        return "413 Request Entity Too Large";
    case 414:
        return "414 Request-URI Too Large";
    case 416:
        return "416 Requested Range Not Satisfiable";
    case 494:
        return "400 Bad Request";
    case 497:
        return "400 Bad Request";
    case 500:
        return "500 Internal Server Error";
    case 501:
        return "501 Not Implemented";
    case 505:
        return "505 HTTP Version Not Supported";
    default:
        return "500 Internal Server Error";
    }
}

size_t pt_decoy_error_page(char *buf, size_t cap, const char *server, int status)
{
    const char *title = NULL, *extra = "";
    switch (status) {
    case 301:
    case 400:
    case 403:
    case 404:
    case 405:
    case 408:
    case 412:
    case 413:
    case 414:
    case 416:
    case 500:
    case 501:
    case 505:
        title = status_text(status);
        break;
    case 494:
        title = "400 Request Header Or Cookie Too Large";
        extra = "<center>Request Header Or Cookie Too Large</center>\r\n";
        break;
    case 497:
        title = "400 The plain HTTP request was sent to HTTPS port";
        extra = "<center>The plain HTTP request was sent to HTTPS port</center>\r\n";
        break;
    default:
        return 0;
    }
    int n = snprintf(buf, cap,
                     "<html>\r\n<head><title>%s</title></head>\r\n<body>\r\n"
                     "<center><h1>%s</h1></center>\r\n%s<hr><center>%s</center>\r\n"
                     "</body>\r\n</html>\r\n",
                     title, status_text(status), extra, server);
    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

/* ---- responses (HTTP/1) --------------------------------------------------------- */

typedef struct resp {
    int status;
    const char *ctype;
    uint64_t clen;
    int has_clen;
    int64_t last_modified; /* -1: none */
    const char *etag;      /* NULL: none */
    int accept_ranges;
    const char *location;
    const char *content_range;
    const uint8_t *body;
    size_t body_len;
    int header_only;
} resp;

static void resp_init(resp *r, int status)
{
    memset(r, 0, sizeof(*r));
    r->status = status;
    r->last_modified = -1;
}

/* ---- gzip (nginx `gzip on;` with Debian's defaults) -------------------------------- */

/* ngx_http_gzip_accept_encoding: "gzip" as a token, not with q=0. */
static int accepts_gzip(const uint8_t *v, size_t n)
{
    for (size_t i = 0; i + 4 <= n; i++) {
        if (strncasecmp((const char *)v + i, "gzip", 4) != 0) {
            continue;
        }
        if (i > 0 && v[i - 1] != ',' && v[i - 1] != ' ') {
            continue;
        }
        size_t p = i + 4;
        while (p < n && v[p] == ' ') {
            p++;
        }
        if (p == n || v[p] == ',') {
            return 1;
        }
        if (v[p] != ';') {
            return 0;
        }
        p++;
        while (p < n && v[p] == ' ') {
            p++;
        }
        if (p + 2 > n || (v[p] | 0x20) != 'q' || v[p + 1] != '=') {
            return 0;
        }
        p += 2;
        /* q=0, q=0.0.. is "not acceptable"; anything above 0 is fine */
        for (; p < n && v[p] != ',' && v[p] != ' '; p++) {
            if (v[p] >= '1' && v[p] <= '9') {
                return 1;
            }
        }
        return 0;
    }
    return 0;
}

/* Would nginx gzip this response? gzip_types text/html, gzip_min_length
 * 20, statuses 200/403/404, not for HEAD. */
static int gzip_applies(int gzip_ok, int status, const char *ctype, size_t len, int header_only)
{
    return gzip_ok && !header_only && (status == 200 || status == 403 || status == 404) && ctype &&
           strcmp(ctype, "text/html") == 0 && len >= 20;
}

/* Compress |in| as nginx's gzip filter does: level 1 (gzip_comp_level),
 * zlib's gzip wrapper, the window and memory level shrunk to the size of
 * the response (ngx_http_gzip_filter_memory). Same zlib, same bytes. */
static uint8_t *gzip_compress(const uint8_t *in, size_t len, size_t *out_len)
{
    int wbits = 15, memlevel = 8;
    /* signed, as nginx's off_t arithmetic: small bodies stop at wbits 9 */
    while (wbits > 9 && (long long)len < (long long)(1 << (wbits - 1)) - 262) {
        wbits--;
        memlevel--;
    }
    if (memlevel < 1) {
        memlevel = 1;
    }
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, 1, Z_DEFLATED, wbits + 16, memlevel, Z_DEFAULT_STRATEGY) != Z_OK) {
        return NULL;
    }
    uLong cap = deflateBound(&z, (uLong)len) + 32;
    uint8_t *out = malloc(cap);
    if (!out) {
        deflateEnd(&z);
        return NULL;
    }
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    int rc = deflate(&z, Z_FINISH);
    *out_len = cap - z.avail_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(out);
        return NULL;
    }
    return out;
}

/* Header order of ngx_http_header_filter. */
static int send_resp(pt_decoy *d, const resp *r)
{
    if (!d->http09 && gzip_applies(d->gzip_ok, r->status, r->ctype, r->body_len, r->header_only)) {
        /* nginx: no Content-Length, no Accept-Ranges, chunked, a weak
         * ETag, Content-Encoding last; the whole small body in one chunk. */
        size_t zlen = 0;
        uint8_t *z = gzip_compress(r->body, r->body_len, &zlen);
        if (!z) {
            return PT_ERR_NOMEM;
        }
        char date[32];
        http_date(date, d->unix_now);
        int rc = out_fmt(d, "HTTP/1.1 %s\r\nServer: %s\r\nDate: %s\r\nContent-Type: %s\r\n",
                         status_text(r->status), d->cfg.server, date, r->ctype);
        if (r->last_modified >= 0) {
            char lm[32];
            http_date(lm, r->last_modified);
            rc |= out_fmt(d, "Last-Modified: %s\r\n", lm);
        }
        rc |= out_str(d, "Transfer-Encoding: chunked\r\n");
        rc |= out_str(d, d->keepalive ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
        if (r->etag) {
            rc |= out_fmt(d, "ETag: %s%s\r\n", r->etag[0] == 'W' ? "" : "W/", r->etag);
        }
        rc |= out_str(d, "Content-Encoding: gzip\r\n\r\n");
        rc |= out_fmt(d, "%zx\r\n", zlen);
        rc |= out_add(d, z, zlen);
        rc |= out_str(d, "\r\n0\r\n\r\n");
        free(z);
        return rc ? PT_ERR_NOMEM : PT_ERR_OK;
    }
    int rc = PT_ERR_OK;
    if (d->http09) {
        return r->header_only ? PT_ERR_OK : out_add(d, r->body, r->body_len);
    }
    char date[32];
    http_date(date, d->unix_now);
    rc |= out_fmt(d, "HTTP/1.1 %s\r\nServer: %s\r\nDate: %s\r\n", status_text(r->status),
                  d->cfg.server, date);
    if (r->ctype) {
        rc |= out_fmt(d, "Content-Type: %s\r\n", r->ctype);
    }
    if (r->has_clen) {
        rc |= out_fmt(d, "Content-Length: %llu\r\n", (unsigned long long)r->clen);
    }
    if (r->last_modified >= 0) {
        char lm[32];
        http_date(lm, r->last_modified);
        rc |= out_fmt(d, "Last-Modified: %s\r\n", lm);
    }
    if (r->location) {
        rc |= out_fmt(d, "Location: %s\r\n", r->location);
    }
    rc |= out_str(d, d->keepalive ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
    if (r->etag) {
        rc |= out_fmt(d, "ETag: %s\r\n", r->etag);
    }
    if (r->accept_ranges) {
        rc |= out_str(d, "Accept-Ranges: bytes\r\n");
    }
    if (r->content_range) {
        rc |= out_fmt(d, "Content-Range: %s\r\n", r->content_range);
    }
    rc |= out_str(d, "\r\n");
    if (!r->header_only && r->body_len) {
        rc |= out_add(d, r->body, r->body_len);
    }
    return rc ? PT_ERR_NOMEM : PT_ERR_OK;
}

/* nginx's msie_padding (on by default): its own 4xx/5xx pages get these
 * six lines more when the User-Agent says MSIE or Chrome, whose "friendly"
 * error pages would replace a short page. */
#define MSIE_PAD_LINE "<!-- a padding to disable MSIE and Chrome friendly error page -->\r\n"
static const char kMsiePadding[] = MSIE_PAD_LINE MSIE_PAD_LINE MSIE_PAD_LINE MSIE_PAD_LINE
    MSIE_PAD_LINE MSIE_PAD_LINE;
#undef MSIE_PAD_LINE

/* error_page: pt_decoy_error_page, padded as above when |pad| (the
 * request's User-Agent asked for it and it is HTTP/1.0 or later). */
static size_t error_page(char *buf, size_t cap, const char *server, int status, int pad)
{
    size_t n = pt_decoy_error_page(buf, cap, server, status);
    if (n && pad && status >= 400 && cap - n > sizeof(kMsiePadding) - 1) {
        memcpy(buf + n, kMsiePadding, sizeof(kMsiePadding) - 1);
        n += sizeof(kMsiePadding) - 1;
    }
    return n;
}

/* What nginx reads from the first User-Agent (ngx_http_process_user_agent):
 * MSIE (at least 8 bytes from "MSIE "; 4.x, 5.x and 6.x without SV1 are
 * "msie6"), Opera (cancels MSIE), then Chrome unless it is Gecko/.
 * *pad: msie_padding applies; *msie6: keepalive_disable msie6 applies. */
/* find: the first |lit| in h[0..n), or NULL (memmem is not C11). */
static const uint8_t *find(const uint8_t *h, size_t n, const char *lit)
{
    size_t k = strlen(lit);
    for (size_t i = 0; k <= n && i <= n - k; i++) {
        if (h[i] == (uint8_t)lit[0] && memcmp(h + i, lit, k) == 0) {
            return h + i;
        }
    }
    return NULL;
}

static void user_agent_flags(const uint8_t *ua, size_t n, int *pad, int *msie6)
{
    int msie = 0, chrome = 0;
    *msie6 = 0;
    const uint8_t *m = find(ua, n, "MSIE ");
    if (m && (size_t)(m - ua) + 7 < n) {
        msie = 1;
        if (m[6] == '.') {
            if (m[5] == '4' || m[5] == '5') {
                *msie6 = 1;
            } else if (m[5] == '6') {
                size_t off = (size_t)(m - ua) + 8;
                *msie6 = !find(ua + off, n - off, "SV1");
            }
        }
    }
    if (find(ua, n, "Opera")) {
        msie = *msie6 = 0;
    } else if (!msie && !find(ua, n, "Gecko/") && find(ua, n, "Chrome/")) {
        chrome = 1;
    }
    *pad = msie || chrome;
}

/* An nginx built-in error page. */
static int send_error(pt_decoy *d, int status, int header_only)
{
    char page[1024];
    size_t n = error_page(page, sizeof(page), d->cfg.server, status, d->ua_pad && !d->http09);
    resp r;
    resp_init(&r, status);
    r.ctype = "text/html";
    r.has_clen = 1;
    r.clen = n;
    r.body = (const uint8_t *)page;
    r.body_len = n;
    r.header_only = header_only;
    return send_resp(d, &r);
}

/* ---- request-line parser ------------------------------------------------------------ */

#define P_AGAIN 0
#define P_DONE 1
/* errors are HTTP status codes (> 1) */

static int is_method_char(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') || c == '_' || c == '-';
}

static int parse_request_line(pt_decoy *d)
{
    while (d->pos < d->in_len) {
        uint8_t ch = d->in[d->pos];
        size_t p = d->pos++;
        switch (d->rl) {
        case RL_START:
            if (ch == '\r' || ch == '\n') {
                d->req_start = d->pos;
                break;
            }
            if (!is_method_char(ch)) {
                return 400;
            }
            d->method.off = p;
            d->rl = RL_METHOD;
            break;
        case RL_METHOD:
            if (ch == ' ') {
                d->method.len = p - d->method.off;
                d->rl = RL_SP_BEFORE_URI;
                break;
            }
            if (!is_method_char(ch)) {
                return 400;
            }
            break;
        case RL_SP_BEFORE_URI:
            if (ch == '/') {
                d->uri.off = p;
                d->rl = RL_URI;
                break;
            }
            if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z') {
                d->rl = RL_SCHEME;
                break;
            }
            if (ch == ' ') {
                break;
            }
            return 400;
        case RL_SCHEME:
            if (((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z') || (ch >= '0' && ch <= '9') ||
                ch == '+' || ch == '-' || ch == '.') {
                break;
            }
            if (ch == ':') {
                d->rl = RL_SCHEME_SLASH;
                break;
            }
            return 400;
        case RL_SCHEME_SLASH:
            if (ch != '/') {
                return 400;
            }
            d->rl = RL_SCHEME_SLASH2;
            break;
        case RL_SCHEME_SLASH2:
            if (ch != '/') {
                return 400;
            }
            d->host_in_uri.off = d->pos;
            d->rl = RL_HOST;
            break;
        case RL_HOST:
            if (ch == '/') {
                d->host_in_uri.len = p - d->host_in_uri.off;
                d->uri.off = p;
                d->rl = RL_URI;
                break;
            }
            if (ch == ' ') {
                d->host_in_uri.len = p - d->host_in_uri.off;
                d->uri.off = d->uri.len = 0; /* "/" */
                d->rl = RL_SP_AFTER_URI;
                break;
            }
            if (isalnum(ch) || strchr(".-_~!$&'()*+,;=:[]@%", ch)) {
                break;
            }
            return 400;
        case RL_URI:
            if (ch == ' ') {
                d->uri.len = p - d->uri.off;
                d->rl = RL_SP_AFTER_URI;
                break;
            }
            if (ch == '\r' || ch == '\n') {
                d->uri.len = p - d->uri.off;
                d->http09 = 1;
                d->major = 0;
                d->minor = 9;
                if (ch == '\n') {
                    return P_DONE;
                }
                d->rl = RL_ALMOST_DONE;
                break;
            }
            if (ch == '\0') {
                return 400;
            }
            break;
        case RL_SP_AFTER_URI:
            if (ch == ' ') {
                break;
            }
            if (ch == 'H') {
                d->rl = RL_H;
                break;
            }
            if (ch == '\r' || ch == '\n') {
                d->http09 = 1;
                d->major = 0;
                d->minor = 9;
                if (ch == '\n') {
                    return P_DONE;
                }
                d->rl = RL_ALMOST_DONE;
                break;
            }
            return 400;
        case RL_H:
        case RL_HT:
        case RL_HTT:
        case RL_HTTP: {
            static const char want[] = "TTP/";
            if (ch != (uint8_t)want[d->rl - RL_H]) {
                return 400;
            }
            d->rl = d->rl == RL_HTTP ? RL_MAJOR_FIRST : d->rl + 1;
            break;
        }
        case RL_MAJOR_FIRST:
            if (ch < '1' || ch > '9') {
                return 400;
            }
            d->major = ch - '0';
            if (d->major > 1) {
                return 505;
            }
            d->rl = RL_MAJOR;
            break;
        case RL_MAJOR:
            if (ch == '.') {
                d->rl = RL_MINOR_FIRST;
                break;
            }
            if (ch < '0' || ch > '9') {
                return 400;
            }
            d->major = d->major * 10 + (ch - '0');
            if (d->major > 1) {
                return 505;
            }
            break;
        case RL_MINOR_FIRST:
            if (ch < '0' || ch > '9') {
                return 400;
            }
            d->minor = ch - '0';
            d->rl = RL_MINOR;
            break;
        case RL_MINOR:
            if (ch == '\r') {
                d->rl = RL_ALMOST_DONE;
                break;
            }
            if (ch == '\n') {
                return P_DONE;
            }
            if (ch == ' ') {
                d->rl = RL_SP_AFTER_VERSION;
                break;
            }
            if (ch < '0' || ch > '9') {
                return 400;
            }
            d->minor = d->minor * 10 + (ch - '0');
            if (d->minor > 99) {
                return 400;
            }
            break;
        case RL_SP_AFTER_VERSION:
            if (ch == ' ') {
                break;
            }
            if (ch == '\r') {
                d->rl = RL_ALMOST_DONE;
                break;
            }
            if (ch == '\n') {
                return P_DONE;
            }
            return 400;
        case RL_ALMOST_DONE:
            if (ch == '\n') {
                return P_DONE;
            }
            return 400;
        default:
            return 400;
        }
    }
    return P_AGAIN;
}

/* ---- header parser -------------------------------------------------------------------- */

static int is_name_char(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

static int span_eq(const pt_decoy *d, span s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && strncasecmp((const char *)d->in + s.off, lit, n) == 0;
}

/* nginx's ngx_http_validate_host: 1 if valid. */
static int valid_host(const uint8_t *h, size_t len)
{
    size_t host_len = len, dot_pos = (size_t)-2;
    int state = 0; /* 0 usual, 1 literal, 2 rest */
    for (size_t i = 0; i < len; i++) {
        uint8_t ch = h[i];
        switch (ch) {
        case '.':
            if (dot_pos == i - 1) {
                return 0;
            }
            dot_pos = i;
            break;
        case ':':
            if (state == 0) {
                host_len = i;
                state = 2;
            }
            break;
        case '[':
            if (i == 0) {
                state = 1;
            }
            break;
        case ']':
            if (state == 1) {
                host_len = i + 1;
                state = 2;
            }
            break;
        default:
            if (ch == '/' || ch <= 0x20 || ch == 0x7f) {
                return 0;
            }
            break;
        }
    }
    if (host_len > 0 && dot_pos == host_len - 1) {
        host_len--;
    }
    return host_len > 0;
}

/* A complete header line: remember what matters. Returns 0 or a status. */
static int header_done(pt_decoy *d)
{
    if (d->invalid_header) {
        return 0; /* ignore_invalid_headers on */
    }
    span name = {d->line_start, d->name_end - d->line_start};
    span val = {d->value_start, d->value_end > d->value_start ? d->value_end - d->value_start : 0};
    unsigned uq = unique_bit(d->in + name.off, name.len);
    if (uq & d->seen_unique) {
        return 400;
    }
    d->seen_unique |= uq;
    if (span_eq(d, name, "Host")) {
        if (d->has_host) {
            return 400; /* "client sent duplicate host header" */
        }
        if (!valid_host(d->in + val.off, val.len)) {
            return 400;
        }
        d->has_host = 1;
        d->host = val;
    } else if (span_eq(d, name, "Connection")) {
        d->connection = val;
    } else if (span_eq(d, name, "Via")) {
        d->has_via = 1;
    } else if (span_eq(d, name, "Expect")) {
        d->expect_100 = span_eq(d, val, "100-continue"); /* ngx_http_test_expect */
    } else if (span_eq(d, name, "User-Agent") && !d->has_ua) {
        d->has_ua = 1;
        user_agent_flags(d->in + val.off, val.len, &d->ua_pad, &d->msie6);
    } else {
        /* The headers whose value we keep: the first of each, as nginx
         * 1.22's ngx_http_process_header_line (Content-Length is read once
         * all headers are in, as nginx does) */
        static const struct {
            const char *name;
            size_t val_at, has_at;
        } kKept[] = {
#define KEPT(n, v, h) {n, offsetof(pt_decoy, v), offsetof(pt_decoy, h)}
            KEPT("Content-Length", cl, has_cl),
            KEPT("Transfer-Encoding", te, has_te),
            KEPT("Range", range, has_range),
            KEPT("If-Modified-Since", ims, has_ims),
            KEPT("If-None-Match", inm, has_inm),
            KEPT("Accept-Encoding", accept_encoding, has_ae),
            KEPT("If-Range", if_range, has_if_range),
            KEPT("If-Match", if_match, has_if_match),
            KEPT("If-Unmodified-Since", iums, has_iums),
#undef KEPT
        };
        for (size_t i = 0; i < sizeof(kKept) / sizeof(kKept[0]); i++) {
            int *has = (int *)(void *)((char *)d + kKept[i].has_at);
            if (span_eq(d, name, kKept[i].name) && !*has) {
                *has = 1;
                *(span *)(void *)((char *)d + kKept[i].val_at) = val;
                break;
            }
        }
    }
    return 0;
}

static int parse_headers(pt_decoy *d)
{
    while (d->pos < d->in_len) {
        uint8_t ch = d->in[d->pos];
        size_t p = d->pos++;
        int rc;
        switch (d->hs) {
        case H_START:
            d->line_start = p;
            d->invalid_header = 0;
            if (ch == '\r') {
                d->hs = H_HEADERS_ALMOST_DONE;
                break;
            }
            if (ch == '\n') {
                return P_DONE;
            }
            d->hs = H_NAME;
            if (is_name_char(ch)) {
                break;
            }
            if (ch <= 0x20 || ch == 0x7f || ch == ':') {
                return 400;
            }
            d->invalid_header = 1; /* '_' and others: ignored */
            break;
        case H_NAME:
            if (is_name_char(ch)) {
                break;
            }
            if (ch == ':') {
                d->name_end = p;
                d->value_start = d->value_end = d->pos;
                d->hs = H_SP_BEFORE_VALUE;
                break;
            }
            if (ch == '\r' || ch == '\n') {
                d->name_end = d->value_start = d->value_end = p;
                if (ch == '\n') {
                    if ((rc = header_done(d)) != 0) {
                        return rc;
                    }
                    d->hs = H_START;
                } else {
                    d->hs = H_ALMOST_DONE;
                }
                break;
            }
            if (ch <= 0x20 || ch == 0x7f) {
                return 400;
            }
            d->invalid_header = 1;
            break;
        case H_SP_BEFORE_VALUE:
        case H_VALUE:
        case H_SP_AFTER_VALUE:
            if (ch == '\0') {
                return 400;
            }
            if (ch == '\r' || ch == '\n') {
                if (d->hs == H_SP_BEFORE_VALUE) {
                    d->value_start = d->value_end = p;
                }
                if (ch == '\n') {
                    if ((rc = header_done(d)) != 0) {
                        return rc;
                    }
                    d->hs = H_START;
                } else {
                    d->hs = H_ALMOST_DONE;
                }
                break;
            }
            if (ch == ' ') {
                if (d->hs == H_VALUE) {
                    d->hs = H_SP_AFTER_VALUE;
                }
                break;
            }
            if (d->hs == H_SP_BEFORE_VALUE) {
                d->value_start = p;
            }
            d->value_end = d->pos;
            d->hs = H_VALUE;
            break;
        case H_ALMOST_DONE:
            if (ch == '\n') {
                if ((rc = header_done(d)) != 0) {
                    return rc;
                }
                d->hs = H_START;
                break;
            }
            if (ch == '\r') {
                break;
            }
            return 400;
        case H_HEADERS_ALMOST_DONE:
            if (ch == '\n') {
                return P_DONE;
            }
            return 400;
        default:
            return 400;
        }
        /* large_client_header_buffers: one line must fit 8 KiB. */
        if (d->pos - d->line_start >= LARGE_BUF) {
            return 494;
        }
    }
    return P_AGAIN;
}

/* ---- URI normalisation (ngx_http_parse_complex_uri, simplified) ---------------------------- */

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c |= 0x20;
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

/* Decode and normalise |uri| (path part only) into |out|: merge slashes,
 * resolve "." and "..". Returns 0, or 400 for what nginx rejects (bad
 * escapes, NUL, ".." above the root). |*args| receives the query offset. */
static int normalize_uri(const uint8_t *uri, size_t len, char *out, size_t cap, size_t *out_len,
                         size_t *args_off)
{
    size_t n = 0;
    *args_off = len;
    if (len == 0) {
        out[n++] = '/';
        *out_len = n;
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        uint8_t c = uri[i];
        if (c == '?') {
            *args_off = i + 1;
            break;
        }
        if (c == '#') {
            break;
        }
        if (c == '%') {
            if (i + 2 >= len) {
                return 400;
            }
            int h = hexval(uri[i + 1]), l = hexval(uri[i + 2]);
            if (h < 0 || l < 0) {
                return 400;
            }
            c = (uint8_t)(h * 16 + l);
            i += 2;
            if (c == '\0') {
                return 400;
            }
        }
        if (n + 1 >= cap) {
            return 414;
        }
        if (c == '/' && n > 0 && out[n - 1] == '/') {
            continue; /* merge_slashes on */
        }
        out[n++] = (char)c;
        /* "/./" and "/../" as soon as they are complete */
        if (c == '/' && n >= 3 && out[n - 2] == '.' && out[n - 3] == '/') {
            n -= 2;
        } else if (c == '/' && n >= 4 && out[n - 2] == '.' && out[n - 3] == '.' &&
                   out[n - 4] == '/') {
            if (n == 4) {
                return 400; /* above the root */
            }
            n -= 4;
            while (n > 0 && out[n - 1] != '/') {
                n--;
            }
        }
    }
    /* trailing "/." and "/.." */
    if (n >= 2 && out[n - 1] == '.' && out[n - 2] == '/') {
        n -= 1;
    } else if (n >= 3 && out[n - 1] == '.' && out[n - 2] == '.' && out[n - 3] == '/') {
        if (n == 3) {
            return 400;
        }
        n -= 3;
        while (n > 0 && out[n - 1] != '/') {
            n--;
        }
    }
    if (n == 0 || out[0] != '/') {
        return 400;
    }
    out[n] = '\0';
    *out_len = n;
    return 0;
}

/* ---- static content ----------------------------------------------------------------------------
 */

typedef struct req_view {
    int method;
    const char *path;
    size_t path_len;
    const uint8_t *args;
    size_t args_len;
    const uint8_t *host;
    size_t host_len; /* without port */
    const uint8_t *range, *ims, *inm, *if_range, *if_match, *iums;
    size_t range_len, ims_len, inm_len, if_range_len, if_match_len, iums_len;
    int gzip_ok;
    int expect_100; /* HTTP/1.1 with "Expect: 100-continue" */
} req_view;

/* The outcome of serving a request: status plus what to send. */
typedef struct served {
    int status;
    pt_decoy_file f;
    int have_file;
    const char *ctype;
    char etag[48];
    int with_last_modified;
    int accept_ranges;
    char location[LARGE_BUF + 64];
    int has_location;
    /* ranges */
    int nranges;
    uint64_t rs[16], re[16]; /* [start, end) */
    char content_range[64];
    int continue_100; /* "HTTP/1.1 100 Continue" goes first (ngx_http_test_expect) */
} served;

static void make_etag(char out[48], const pt_decoy_file *f)
{
    snprintf(out, 48, "\"%llx-%llx\"", (unsigned long long)f->mtime, (unsigned long long)f->len);
}

static int etag_list_matches(const uint8_t *v, size_t n, const char *etag, int weak)
{
    size_t elen = strlen(etag);
    if (n == 1 && v[0] == '*') {
        return 1;
    }
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == ',')) {
            i++;
        }
        if (weak && i + 2 <= n && v[i] == 'W' && v[i + 1] == '/') {
            i += 2;
        }
        size_t s = i;
        while (i < n && v[i] != ',') {
            i++;
        }
        size_t e = i;
        while (e > s && v[e - 1] == ' ') {
            e--;
        }
        if (e - s == elen && memcmp(v + s, etag, elen) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Range: nginx ngx_http_range_parse. 0 = ignore (serve 200), 1 = ranges
 * set, 416 = unsatisfiable. */
static int parse_range(served *s, const uint8_t *v, size_t n, uint64_t size)
{
    if (n < 6 || strncasecmp((const char *)v, "bytes=", 6) != 0) {
        return 0;
    }
    size_t i = 6;
    uint64_t total = 0;
    int any = 0;
    s->nranges = 0;
    for (;;) {
        uint64_t start = 0, end = 0;
        int suffix = 0;
        while (i < n && v[i] == ' ') {
            i++;
        }
        if (i < n && v[i] == '-') {
            suffix = 1;
            i++;
        } else {
            if (i >= n || v[i] < '0' || v[i] > '9') {
                return 0;
            }
            while (i < n && v[i] >= '0' && v[i] <= '9') {
                if (start > UINT64_MAX / 20) {
                    return 0;
                }
                start = start * 10 + (uint64_t)(v[i++] - '0');
            }
            while (i < n && v[i] == ' ') {
                i++;
            }
            if (i >= n || v[i++] != '-') {
                return 0;
            }
        }
        while (i < n && v[i] == ' ') {
            i++;
        }
        int have_end = 0;
        while (i < n && v[i] >= '0' && v[i] <= '9') {
            if (end > UINT64_MAX / 20) {
                return 0;
            }
            end = end * 10 + (uint64_t)(v[i++] - '0');
            have_end = 1;
        }
        while (i < n && v[i] == ' ') {
            i++;
        }
        if (i < n && v[i] != ',') {
            return 0;
        }
        if (suffix) {
            if (!have_end) {
                return 0;
            }
            start = end > size ? 0 : size - end;
            end = size - 1;
        } else if (!have_end || end >= size) {
            end = size - 1;
        }
        if (start > end) {
            if (!suffix) {
                return 416; /* nginx: start > end is unsatisfiable */
            }
        } else if (start < size) {
            if (s->nranges == 16) {
                return 0;
            }
            s->rs[s->nranges] = start;
            s->re[s->nranges] = end + 1;
            s->nranges++;
            total += end + 1 - start;
            any = 1;
        }
        if (i >= n) {
            break;
        }
        i++; /* ',' */
    }
    if (!any) {
        return 416;
    }
    if (total > size) {
        s->nranges = 0;
        return 0; /* nginx: ranges larger than the file are ignored */
    }
    return 1;
}

static void lookup_index(pt_decoy *d, const char *path, size_t len, served *s)
{
    static const char *const kIndex[] = {"index.html", "index.htm"};
    char buf[LARGE_BUF + 16];
    for (size_t k = 0; k < 2; k++) {
        size_t il = strlen(kIndex[k]);
        if (len + il >= sizeof(buf)) {
            break;
        }
        memcpy(buf, path, len);
        memcpy(buf + len, kIndex[k], il);
        if (pt_decoy_site_lookup(d->site, buf, len + il, &s->f) == PT_DECOY_FILE) {
            s->have_file = 1;
            s->ctype = pt_decoy_mime_type(buf, len + il);
            return;
        }
    }
}

/* try_files $uri $uri/ =404; index index.html index.htm; error_page 404
 * /404.html — decide the status and the file. */
static void serve_path(pt_decoy *d, const req_view *q, served *s)
{
    memset(s, 0, sizeof(*s));
    pt_decoy_lookup lk = pt_decoy_site_lookup(d->site, q->path, q->path_len, &s->f);
    if (lk == PT_DECOY_NOTFOUND) {
        s->status = 404;
        return;
    }
    if (q->method != M_GET && q->method != M_HEAD && q->method != M_POST) {
        if (lk == PT_DECOY_FILE) {
            pt_decoy_file_release(&s->f);
        }
        s->status = 405;
        return;
    }
    if (lk == PT_DECOY_DIR) {
        if (q->path[q->path_len - 1] != '/') {
            /* ngx_http_static_handler: redirect to the directory. */
            char port[16] = "";
            if (d->cfg.port != 443) {
                snprintf(port, sizeof(port), ":%u", d->cfg.port);
            }
            int n =
                snprintf(s->location, sizeof(s->location), "https://%.*s%s%.*s/%s%.*s",
                         (int)q->host_len, (const char *)q->host, port, (int)q->path_len, q->path,
                         q->args_len ? "?" : "", (int)q->args_len, (const char *)q->args);
            s->has_location = n > 0 && (size_t)n < sizeof(s->location);
            s->status = 301;
            return;
        }
        lookup_index(d, q->path, q->path_len, s);
        if (!s->have_file) {
            s->status = 403; /* directory index forbidden */
            return;
        }
    } else {
        s->have_file = 1;
        s->ctype = pt_decoy_mime_type(q->path, q->path_len);
    }
    if (q->method == M_POST) {
        pt_decoy_file_release(&s->f);
        s->have_file = 0;
        s->status = 405;
        return;
    }
    /* The static handler discards the body of a file it serves, and that
     * answers an Expect first, whatever the filters decide next. */
    s->continue_100 = q->expect_100;
    s->status = 200;
    make_etag(s->etag, &s->f);
    s->with_last_modified = 1;
    s->accept_ranges = 1;

    /* ngx_http_not_modified_filter: If-Unmodified-Since (a date it cannot
     * read is -1, before any file), then If-Match, fail with 412 */
    if ((q->iums && parse_http_date((const char *)q->iums, q->iums_len) < s->f.mtime) ||
        (q->if_match && !etag_list_matches(q->if_match, q->if_match_len, s->etag, 0))) {
        pt_decoy_file_release(&s->f);
        s->have_file = 0;
        s->status = 412;
        return;
    }
    if (q->ims || q->inm) {
        int modified = 0;
        if (q->ims) {
            int64_t t = parse_http_date((const char *)q->ims, q->ims_len);
            modified = t != s->f.mtime; /* if_modified_since exact */
        }
        if (!modified && q->inm && !etag_list_matches(q->inm, q->inm_len, s->etag, 1)) {
            modified = 1;
        }
        if (!modified) {
            s->status = 304;
            return;
        }
    }
    /* ngx_http_range_header_filter; a gzipped answer has no length to
     * take ranges of, so nginx sends it whole */
    if (q->range && !gzip_applies(q->gzip_ok, 200, s->ctype, s->f.len, q->method == M_HEAD)) {
        if (q->if_range) {
            int match;
            if (q->if_range_len > 0 && q->if_range[0] == '"') {
                match = q->if_range_len == strlen(s->etag) &&
                        memcmp(q->if_range, s->etag, q->if_range_len) == 0;
            } else {
                match = parse_http_date((const char *)q->if_range, q->if_range_len) == s->f.mtime;
            }
            if (!match) {
                return;
            }
        }
        int r = parse_range(s, q->range, q->range_len, s->f.len);
        if (r == 416) {
            s->status = 416;
            snprintf(s->content_range, sizeof(s->content_range), "bytes */%llu",
                     (unsigned long long)s->f.len);
        } else if (r == 1) {
            s->status = 206;
            if (s->nranges == 1) {
                snprintf(s->content_range, sizeof(s->content_range), "bytes %llu-%llu/%llu",
                         (unsigned long long)s->rs[0], (unsigned long long)s->re[0] - 1,
                         (unsigned long long)s->f.len);
            }
        }
    }
}

/* The 404 page: the site's /404.html as nginx's error_page serves it
 * (status 404, ETag, no Last-Modified, no Accept-Ranges), else nginx's own. */
static int page_404(pt_decoy *d, pt_decoy_file *f)
{
    return pt_decoy_site_lookup(d->site, "/404.html", 9, f) == PT_DECOY_FILE;
}

/* multipart_body: the multipart/byteranges answer to several ranges, in
 * nginx's layout with its boundary counter (ngx_http_range_filter);
 * |ctype| gets the Content-Type, |data_at| where each range's bytes start.
 * Returns the body (malloc) and its length, or NULL without memory. */
static uint8_t *multipart_body(const served *s, char *ctype, size_t ctype_cap, size_t *len,
                               size_t data_at[16])
{
    char boundary[24];
    snprintf(boundary, sizeof(boundary), "%020llu", (unsigned long long)++g_multipart_counter);
    snprintf(ctype, ctype_cap, "multipart/byteranges; boundary=%s", boundary);
    char part[256];
    size_t total = 0, o = 0;
    uint8_t *body = NULL;
    /* Two passes: the size, then the bytes. */
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < s->nranges; i++) {
            int n = snprintf(part, sizeof(part),
                             "\r\n--%s\r\nContent-Type: %s\r\nContent-Range: bytes "
                             "%llu-%llu/%llu\r\n\r\n",
                             boundary, s->ctype, (unsigned long long)s->rs[i],
                             (unsigned long long)s->re[i] - 1, (unsigned long long)s->f.len);
            size_t plen = (size_t)(s->re[i] - s->rs[i]);
            if (body) {
                data_at[i] = o + (size_t)n;
                memcpy(body + o, part, (size_t)n);
                memcpy(body + o + (size_t)n, s->f.data + s->rs[i], plen);
                o += (size_t)n + plen;
            } else {
                total += (size_t)n + plen;
            }
        }
        if (!body) {
            total += strlen(boundary) + 8; /* "\r\n--" B "--\r\n" */
            if (!(body = malloc(total))) {
                return NULL;
            }
        }
    }
    snprintf(part, sizeof(part), "\r\n--%s--\r\n", boundary);
    memcpy(body + o, part, strlen(part));
    *len = total;
    return body;
}

static int send_served(pt_decoy *d, const req_view *q, served *s)
{
    int head = q->method == M_HEAD;
    resp r;
    int rc;
    if (s->continue_100 && (rc = out_add(d, "HTTP/1.1 100 Continue\r\n\r\n", 25)) != PT_ERR_OK) {
        return rc;
    }
    switch (s->status) {
    case 404: {
        pt_decoy_file f;
        if (!page_404(d, &f)) {
            return send_error(d, 404, head);
        }
        char etag[48];
        make_etag(etag, &f);
        resp_init(&r, 404);
        r.ctype = "text/html";
        r.has_clen = 1;
        r.clen = f.len;
        r.etag = etag;
        r.body = f.data;
        r.body_len = f.len;
        r.header_only = head;
        rc = send_resp(d, &r);
        pt_decoy_file_release(&f);
        return rc;
    }
    case 301:
        resp_init(&r, 301);
        {
            char page[512];
            size_t n = pt_decoy_error_page(page, sizeof(page), d->cfg.server, 301);
            r.ctype = "text/html";
            r.has_clen = 1;
            r.clen = n;
            r.location = s->has_location ? s->location : NULL;
            r.body = (const uint8_t *)page;
            r.body_len = n;
            r.header_only = head;
            return send_resp(d, &r);
        }
    case 403:
    case 405:
    case 412:
        return send_error(d, s->status, head);
    case 416:
        resp_init(&r, 416);
        {
            char page[1024];
            size_t n = error_page(page, sizeof(page), d->cfg.server, 416, d->ua_pad && !d->http09);
            r.ctype = "text/html";
            r.has_clen = 1;
            r.clen = n;
            r.content_range = s->content_range;
            r.body = (const uint8_t *)page;
            r.body_len = n;
            r.header_only = head;
            return send_resp(d, &r);
        }
    case 304:
        resp_init(&r, 304);
        r.last_modified = s->f.mtime;
        r.etag = s->etag;
        r.header_only = 1;
        return send_resp(d, &r);
    case 206:
        resp_init(&r, 206);
        r.last_modified = s->f.mtime;
        r.etag = s->etag;
        r.header_only = head;
        if (s->nranges == 1) {
            r.ctype = s->ctype;
            r.has_clen = 1;
            r.clen = s->re[0] - s->rs[0];
            r.content_range = s->content_range;
            r.body = s->f.data + s->rs[0];
            r.body_len = (size_t)r.clen;
            return send_resp(d, &r);
        }
        {
            char ctype[96];
            size_t total, data_at[16];
            uint8_t *body = multipart_body(s, ctype, sizeof(ctype), &total, data_at);
            if (!body) {
                return PT_ERR_NOMEM;
            }
            r.ctype = ctype;
            r.has_clen = 1;
            r.clen = total;
            r.body = body;
            r.body_len = total;
            rc = send_resp(d, &r);
            free(body);
            return rc;
        }
    default: /* 200 */
        resp_init(&r, 200);
        r.ctype = s->ctype;
        r.has_clen = 1;
        r.clen = s->f.len;
        r.last_modified = s->f.mtime;
        r.etag = s->etag;
        r.accept_ranges = 1;
        r.body = s->f.data;
        r.body_len = s->f.len;
        r.header_only = head;
        return send_resp(d, &r);
    }
}

/* ---- request handling (HTTP/1) ----------------------------------------------------------------
 */

static void set_close(pt_decoy *d, pt_decoy_close how)
{
    if (d->close_how == PT_DECOY_OPEN) {
        d->close_how = how;
    }
    set_state(d, D_DONE);
    d->deadline = UINT64_MAX;
}

static int method_of(const pt_decoy *d)
{
    if (d->method.len == 3 && memcmp(d->in + d->method.off, "GET", 3) == 0) {
        return M_GET;
    }
    if (d->method.len == 4 && memcmp(d->in + d->method.off, "HEAD", 4) == 0) {
        return M_HEAD;
    }
    if (d->method.len == 4 && memcmp(d->in + d->method.off, "POST", 4) == 0) {
        return M_POST;
    }
    if (d->method.len == 5 && memcmp(d->in + d->method.off, "TRACE", 5) == 0) {
        return M_TRACE;
    }
    return M_OTHER;
}

/* Does the Connection header contain |tok|? */
static int conn_has(const pt_decoy *d, const char *tok)
{
    size_t n = strlen(tok);
    const uint8_t *v = d->in + d->connection.off;
    for (size_t i = 0; i + n <= d->connection.len; i++) {
        if (strncasecmp((const char *)v + i, tok, n) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Error during the head: answer, and close (nginx turns keep-alive off for
 * all of these). */
static int fail_request(pt_decoy *d, int status)
{
    d->keepalive = 0;
    int rc = send_error(d, status, 0);
    set_close(d, PT_DECOY_CLOSE);
    return rc;
}

static void reset_request(pt_decoy *d)
{
    /* drop what this request used */
    if (d->pos > 0) {
        memmove(d->in, d->in + d->pos, d->in_len - d->pos);
        d->in_len -= d->pos;
        d->pos = 0;
    }
    d->req_start = 0;
    d->rl = RL_START;
    d->hs = H_START;
    d->http09 = 0;
    d->major = d->minor = 0;
    memset(&d->method, 0, sizeof(span));
    memset(&d->uri, 0, sizeof(span));
    memset(&d->host_in_uri, 0, sizeof(span));
    memset(&d->connection, 0, sizeof(span));
    d->has_host = d->has_cl = d->has_te = d->has_range = d->has_ims = d->has_inm = d->has_if_range =
        d->has_ae = d->has_via = d->gzip_ok = 0;
    d->has_if_match = d->has_iums = d->expect_100 = 0;
    d->has_ua = d->ua_pad = d->msie6 = 0;
    d->seen_unique = 0;
    d->content_length = 0;
    d->got_request_bytes = 0;
    d->first_request = 0;
}

/* The head is complete: answer it. */
static int handle_request(pt_decoy *d)
{
    d->m = method_of(d);
    int v11 = d->major == 1 && d->minor >= 1;
    if (d->http09) {
        d->keepalive = 0;
        if (d->m != M_GET) {
            return fail_request(d, 400);
        }
    } else if (v11) {
        d->keepalive = !conn_has(d, "close");
    } else {
        d->keepalive = conn_has(d, "keep-alive");
    }
    if (d->msie6 && d->m == M_POST) {
        d->keepalive = 0; /* keepalive_disable msie6 (nginx's default): POST only */
    }
    /* gzip_http_version 1.1, gzip_proxied off (no Via) */
    d->gzip_ok = v11 && d->has_ae && !d->has_via &&
                 accepts_gzip(d->in + d->accept_encoding.off, d->accept_encoding.len);
    /* ngx_http_process_request_header */
    span host = d->has_host ? d->host : d->host_in_uri;
    if (d->host_in_uri.len && !valid_host(d->in + d->host_in_uri.off, d->host_in_uri.len)) {
        return fail_request(d, 400);
    }
    if (!d->has_host && v11) {
        return fail_request(d, 400); /* even with a host in the URI */
    }
    if (d->has_cl) {
        /* ngx_atoof: digits only, at most 2^63 - 1 */
        const uint64_t max = INT64_MAX, cutoff = max / 10, cutlim = max % 10;
        uint64_t v = 0;
        for (size_t i = 0; i < d->cl.len; i++) {
            uint8_t c = d->in[d->cl.off + i];
            if (c < '0' || c > '9' || (v >= cutoff && (v > cutoff || (uint64_t)(c - '0') > cutlim))) {
                return fail_request(d, 400); /* "client sent invalid Content-Length" */
            }
            v = v * 10 + (uint64_t)(c - '0');
        }
        if (d->cl.len == 0) {
            return fail_request(d, 400);
        }
        d->content_length = v;
    }
    if (d->has_te) {
        if (!v11) {
            return fail_request(d, 400); /* "HTTP/1.0 request with Transfer-Encoding" */
        }
        if (d->has_cl) {
            return fail_request(d, 400);
        }
        if (!span_eq(d, d->te, "chunked")) {
            return fail_request(d, 501);
        }
        d->chunked = 1;
    }
    if (d->m == M_TRACE) {
        return fail_request(d, 405);
    }
    if (d->proto == PT_DECOY_PLAIN_ON_TLS) {
        return fail_request(d, 497);
    }

    char path[LARGE_BUF + 16];
    size_t path_len = 0, args_off = 0;
    const uint8_t *uri = d->in + d->uri.off;
    int nrc = normalize_uri(uri, d->uri.len, path, sizeof(path) - 16, &path_len, &args_off);
    if (nrc != 0) {
        return fail_request(d, nrc);
    }
    req_view q;
    memset(&q, 0, sizeof(q));
    q.method = d->m;
    q.path = path;
    q.path_len = path_len;
    if (args_off < d->uri.len) {
        q.args = uri + args_off;
        q.args_len = d->uri.len - args_off;
    }
    q.host = d->in + host.off;
    q.host_len = host.len;
    for (size_t i = 0; i < host.len; i++) {
        if (q.host[i] == ':' && q.host[0] != '[') {
            q.host_len = i;
            break;
        }
    }
    if (d->has_range) {
        q.range = d->in + d->range.off;
        q.range_len = d->range.len;
    }
    if (d->has_ims) {
        q.ims = d->in + d->ims.off;
        q.ims_len = d->ims.len;
    }
    if (d->has_inm) {
        q.inm = d->in + d->inm.off;
        q.inm_len = d->inm.len;
    }
    if (d->has_if_range) {
        q.if_range = d->in + d->if_range.off;
        q.if_range_len = d->if_range.len;
    }
    if (d->has_if_match) {
        q.if_match = d->in + d->if_match.off;
        q.if_match_len = d->if_match.len;
    }
    if (d->has_iums) {
        q.iums = d->in + d->iums.off;
        q.iums_len = d->iums.len;
    }
    q.expect_100 = v11 && d->expect_100;
    q.gzip_ok = d->gzip_ok;
    if (d->has_cl && d->content_length > 1024 * 1024) {
        /* client_max_body_size 1m, checked when the location is found,
         * before any handler: "client intended to send too large body" */
        d->body_too_large = 1;
        return fail_request(d, 413);
    }
    served s;
    serve_path(d, &q, &s);
    int rc = send_served(d, &q, &s);
    if (s.have_file || s.f.owned) {
        pt_decoy_file_release(&s.f);
    }
    return rc;
}

/* Discard body bytes from the input. Returns 1 when the body is over, 0
 * for more, -1 for a broken chunked body. */
static int discard_body(pt_decoy *d)
{
    if (!d->chunked) {
        size_t avail = d->in_len - d->pos;
        size_t take = d->body_left < avail ? (size_t)d->body_left : avail;
        d->pos += take;
        d->body_left -= take;
        return d->body_left == 0;
    }
    /* chunk-size [; ext] CRLF data CRLF ... 0 CRLF [trailers] CRLF */
    while (d->pos < d->in_len) {
        if (d->ch_state == 3) { /* data */
            size_t avail = d->in_len - d->pos;
            size_t take = d->ch_size < avail ? (size_t)d->ch_size : avail;
            d->pos += take;
            d->ch_size -= take;
            if (d->ch_size == 0) {
                d->ch_state = 4;
            }
            continue;
        }
        uint8_t c = d->in[d->pos++];
        switch (d->ch_state) {
        case 0: /* first size digit */
        case 1: {
            int h = hexval(c);
            if (h >= 0) {
                if (d->ch_size > (UINT64_MAX >> 8)) {
                    return -1;
                }
                d->ch_size = d->ch_size * 16 + (uint64_t)h;
                d->ch_state = 1;
            } else if (d->ch_state == 1 && (c == ';' || c == ' ' || c == '\t')) {
                d->ch_state = 2;
            } else if (d->ch_state == 1 && c == '\r') {
                d->ch_state = 2;
            } else if (d->ch_state == 1 && c == '\n') {
                d->ch_state = d->ch_size ? 3 : 6;
            } else {
                return -1;
            }
            break;
        }
        case 2: /* extension until LF */
            if (c == '\n') {
                d->ch_state = d->ch_size ? 3 : 6;
            }
            break;
        case 4: /* CRLF after data */
            if (c == '\r') {
                d->ch_state = 5;
            } else if (c == '\n') {
                d->ch_state = 0;
                d->ch_size = 0;
            } else {
                return -1;
            }
            break;
        case 5:
            if (c != '\n') {
                return -1;
            }
            d->ch_state = 0;
            d->ch_size = 0;
            break;
        case 6: /* trailers: a line; an empty one ends */
            if (c == '\n') {
                return 1;
            }
            if (c != '\r') {
                d->ch_state = 7;
            }
            break;
        case 7:
            if (c == '\n') {
                d->ch_state = 6;
            }
            break;
        default:
            return -1;
        }
    }
    return 0;
}

/* After a response (and its request's body): keep-alive or close. */
static void after_request(pt_decoy *d, uint64_t now)
{
    if (!d->keepalive) {
        /* ngx_http_finalize_connection: unread pipelined bytes mean a
         * lingering close. */
        set_close(d, d->pos < d->in_len ? PT_DECOY_LINGER : PT_DECOY_CLOSE);
        return;
    }
    reset_request(d);
    set_state(d, D_HEAD);
    d->quiet_timeout = 0;
    if (d->in_len > 0) {
        d->got_request_bytes = 1;
        d->deadline = now + d->cfg.client_header_timeout_ms;
        d->quiet_timeout = 1;
    } else {
        d->deadline = now + d->cfg.keepalive_timeout_ms;
    }
}

static int h1_process(pt_decoy *d, uint64_t now)
{
    int rc = PT_ERR_OK;
    while (d->close_how == PT_DECOY_OPEN && out_pending(d) < OUT_HIGH && rc == PT_ERR_OK) {
        if (d->state == D_HEAD) {
            if (d->pos >= d->in_len) {
                break;
            }
            if (!d->got_request_bytes) {
                d->got_request_bytes = 1;
                if (!d->first_request) {
                    /* keep-alive: the header timer starts with the first byte */
                    d->deadline = now + d->cfg.client_header_timeout_ms;
                }
            }
            /* From here a timeout is nginx's "client timed out" while
             * reading the request: c->timedout, a close without
             * close_notify. */
            d->quiet_timeout = 1;
            int r = P_DONE;
            if (d->rl != RL_DONE) {
                r = parse_request_line(d);
                if (r == P_DONE) {
                    d->rl = RL_DONE;
                    if (d->http09) {
                        rc = handle_request(d);
                        if (d->close_how == PT_DECOY_OPEN) {
                            set_close(d, PT_DECOY_CLOSE);
                        }
                        break;
                    }
                } else if (r == P_AGAIN) {
                    if (d->pos - d->req_start >= LARGE_BUF) {
                        rc = fail_request(d, 414);
                    }
                    break;
                } else {
                    rc = fail_request(d, r);
                    break;
                }
            }
            r = parse_headers(d);
            if (r == P_AGAIN) {
                if (d->pos - d->req_start >= HEAD_MAX) {
                    rc = fail_request(d, 494);
                }
                break;
            }
            if (r != P_DONE) {
                rc = fail_request(d, r);
                break;
            }
            d->chunked = 0;
            d->ch_state = 0;
            d->ch_size = 0;
            d->body_too_large = 0;
            rc = handle_request(d);
            if (d->body_too_large) {
                /* the 413 is out; drop the body while nginx would */
                d->close_how = PT_DECOY_OPEN; /* fail_request closed: not yet */
                d->body_left = d->content_length;
                set_state(d, D_BODY);
                d->linger_until = now + 30000;
                d->deadline = now + 5000;
                d->quiet_timeout = 1;
                continue;
            }
            if (d->close_how != PT_DECOY_OPEN) {
                break;
            }
            d->body_left = d->has_cl ? d->content_length : 0;
            if (d->body_left || d->chunked) {
                set_state(d, D_BODY);
                d->linger_until = now + 30000;
                d->deadline = now + 5000;
                d->quiet_timeout = 1;
            } else {
                after_request(d, now);
            }
            continue;
        }
        if (d->state == D_BODY) {
            int r = discard_body(d);
            if (r < 0) {
                set_close(d, PT_DECOY_CLOSE);
                break;
            }
            if (r == 0) {
                /* all input consumed */
                uint64_t t = now + 5000;
                d->deadline = t < d->linger_until ? t : d->linger_until;
                d->in_len = d->pos = d->req_start = 0;
                /* keep the parsed head? It is no longer needed. */
                break;
            }
            after_request(d, now);
            continue;
        }
        break;
    }
    return rc;
}

/* ---- HTTP/2 --------------------------------------------------------------------------------- */

static void h2_remove(pt_decoy *d, int32_t id)
{
    for (h2_stream **pp = &d->streams; *pp; pp = &(*pp)->next) {
        if ((*pp)->id == id) {
            h2_stream *s = *pp;
            *pp = s->next;
            free(s->body);
            free(s);
            return;
        }
    }
}

static ssize_t h2_read_body(nghttp2_session *session, int32_t id, uint8_t *buf, size_t length,
                            uint32_t *flags, nghttp2_data_source *src, void *user)
{
    (void)session;
    (void)id;
    (void)user;
    h2_stream *s = src->ptr;
    size_t left = s->body_len - s->body_off;
    for (int i = 0; i < s->nsplits; i++) {
        if (s->splits[i] > s->body_off) {
            left = s->splits[i] - s->body_off < left ? s->splits[i] - s->body_off : left;
            break;
        }
    }
    size_t n = left < length ? left : length;
    memcpy(buf, s->body + s->body_off, n);
    s->body_off += n;
    if (s->body_off == s->body_len) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    }
    return (ssize_t)n;
}

/* ---- response header blocks as nginx encodes them -------------------------------
 * nghttp2's HPACK encoder picks other representations than nginx's
 * ngx_http_v2_header_filter and refers to its dynamic table in later
 * responses, so HEADERS frames would differ in bytes and size (SECURITY.md
 * R13). We let nghttp2 run the session and replace each response's header
 * block, in h2_flush, with the one nginx writes: :status indexed when the
 * static table has it, else a literal; server, date, content-type,
 * content-length (raw digits), last-modified and location as literals with
 * incremental indexing of their static names; every other header a
 * literal without indexing with a new name; strings Huffman-coded when
 * that is shorter (nghttp2's coder, which applies the same rule). nginx
 * never refers to the dynamic table, so the client's table, filled only by
 * these blocks, never has to match nghttp2's. */

typedef struct hblock {
    struct hblock *next;
    int32_t id;
    int closed; /* the stream closed: dropped after the output now in hand */
    size_t len;
    uint8_t data[];
} hblock;

/* An HPACK integer with an |nbits| prefix after the bits in |first|. */
static size_t hp_int(uint8_t *out, uint8_t first, unsigned nbits, size_t v)
{
    size_t max = (1u << nbits) - 1, n = 0;
    if (v < max) {
        out[n++] = (uint8_t)(first | v);
        return n;
    }
    out[n++] = (uint8_t)(first | max);
    for (v -= max; v >= 128; v >>= 7) {
        out[n++] = (uint8_t)(0x80 | (v & 0x7f));
    }
    out[n++] = (uint8_t)v;
    return n;
}

/* Read an HPACK integer at in[*p] (prefix |nbits|); -1 if it runs out. */
static long long hp_read_int(const uint8_t *in, size_t len, size_t *p, unsigned nbits)
{
    if (*p >= len) {
        return -1;
    }
    unsigned long long max = (1u << nbits) - 1, v = in[(*p)++] & max;
    if (v < max) {
        return (long long)v;
    }
    for (unsigned shift = 0; *p < len && shift < 28; shift += 7) {
        uint8_t b = in[(*p)++];
        v += (unsigned long long)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            return (long long)v;
        }
    }
    return -1;
}

/* hp_string: |v| as an HPACK string literal into |out| (room for 2 * vl +
 * 8), Huffman-coded by nghttp2's coder when shorter: we deflate the pair
 * ("x", v) never-indexed and keep the value's representation. */
static size_t hp_string(pt_decoy *d, uint8_t *out, const uint8_t *v, size_t vl)
{
    uint8_t tmp[2 * LARGE_BUF + 64];
    nghttp2_nv nv = {(uint8_t *)(uintptr_t) "x", (uint8_t *)(uintptr_t)v, 1, vl,
                     NGHTTP2_NV_FLAG_NO_INDEX};
    ssize_t n = vl < LARGE_BUF ? nghttp2_hd_deflate_hd(d->huff, tmp, sizeof(tmp), &nv, 1) : -1;
    size_t p = 0;
    while (n > 0 && p < (size_t)n && (tmp[p] & 0xe0) == 0x20) {
        (void)hp_read_int(tmp, (size_t)n, &p, 5); /* a table size update */
    }
    long long nl = -1;
    if (n > 0 && p < (size_t)n && tmp[p++] == 0x10) { /* never indexed, new name */
        nl = hp_read_int(tmp, (size_t)n, &p, 7);
    }
    if (nl < 0 || p + (size_t)nl >= (size_t)n) {
        size_t o = hp_int(out, 0, 7, vl); /* not coded: raw */
        memcpy(out + o, v, vl);
        return o + vl;
    }
    p += (size_t)nl;
    memcpy(out, tmp + p, (size_t)n - p);
    return (size_t)n - p;
}

/* nginx_block: queue the header block nginx writes for |nv| (in order) as
 * the one for stream |id|. */
static int nginx_block(pt_decoy *d, int32_t id, const nghttp2_nv *nv, size_t n)
{
    size_t cap = 8;
    for (size_t i = 0; i < n; i++) {
        cap += 16 + 2 * (nv[i].namelen + nv[i].valuelen);
    }
    hblock *hb = malloc(sizeof(*hb) + cap);
    if (!hb) {
        return PT_ERR_NOMEM;
    }
    uint8_t *b = hb->data;
    size_t o = 0;
    if (d->h2_table_update) {
        b[o++] = 0x20; /* nginx: "http2 table size update: 0" */
        d->h2_table_update = 0;
    }
    static const struct {
        const char *name;
        uint8_t index;
    } kInc[] = {{"server", 54},         {"date", 33},          {"content-type", 31},
                {"last-modified", 44},  {"location", 46}};
    for (size_t i = 0; i < n; i++) {
        const char *name = (const char *)nv[i].name;
        size_t nl = nv[i].namelen;
        const uint8_t *v = nv[i].value;
        size_t vl = nv[i].valuelen;
#define NAME_IS(lit) (nl == sizeof(lit) - 1 && memcmp(name, lit, nl) == 0)
        if (NAME_IS(":status")) {
            static const char *const kIdx[] = {"200", "204", "206", "304", "400", "404", "500"};
            int idx = -1;
            for (int k = 0; k < 7; k++) {
                if (vl == 3 && memcmp(v, kIdx[k], 3) == 0) {
                    idx = 8 + k;
                }
            }
            if (idx > 0) {
                b[o++] = (uint8_t)(0x80 | idx);
            } else {
                b[o++] = 0x40 | 8; /* incremental indexing, name :status */
                o += hp_int(b + o, 0, 7, vl);
                memcpy(b + o, v, vl);
                o += vl;
            }
            continue;
        }
        if (NAME_IS("content-length")) {
            b[o++] = 0x40 | 28;
            o += hp_int(b + o, 0, 7, vl); /* raw digits, as nginx writes them */
            memcpy(b + o, v, vl);
            o += vl;
            continue;
        }
#undef NAME_IS
        int inc = -1;
        for (size_t k = 0; k < sizeof(kInc) / sizeof(kInc[0]); k++) {
            if (strlen(kInc[k].name) == nl && memcmp(kInc[k].name, name, nl) == 0) {
                inc = kInc[k].index;
            }
        }
        if (inc > 0) {
            o += hp_int(b + o, 0x40, 6, (size_t)inc);
        } else {
            b[o++] = 0; /* without indexing, new name */
            o += hp_string(d, b + o, nv[i].name, nl);
        }
        o += hp_string(d, b + o, v, vl);
    }
    hb->id = id;
    hb->closed = 0;
    hb->len = o;
    hb->next = NULL;
    hblock **pp = &d->hblocks;
    while (*pp) {
        pp = &(*pp)->next;
    }
    *pp = hb;
    return PT_ERR_OK;
}

static void nv_add(nghttp2_nv *nv, size_t *n, const char *name, const char *value)
{
    nv[*n].name = (uint8_t *)(uintptr_t)name;
    nv[*n].namelen = strlen(name);
    nv[*n].value = (uint8_t *)(uintptr_t)value;
    nv[*n].valuelen = strlen(value);
    nv[*n].flags = NGHTTP2_NV_FLAG_NONE;
    (*n)++;
}

static int h2_respond(pt_decoy *d, h2_stream *st)
{
    char path[LARGE_BUF + 16];
    size_t path_len = 0, args_off = 0;
    served s;
    memset(&s, 0, sizeof(s));
    int status;
    if (st->bad || st->path_len == 0 || st->path[0] != '/') {
        status = 400;
    } else if (normalize_uri((const uint8_t *)st->path, st->path_len, path, sizeof(path) - 16,
                             &path_len, &args_off) != 0) {
        status = 400;
    } else {
        req_view q;
        memset(&q, 0, sizeof(q));
        q.method = st->method;
        q.path = path;
        q.path_len = path_len;
        q.host = (const uint8_t *)"localhost";
        q.host_len = 9;
        if (st->has_range) {
            q.range = (const uint8_t *)st->range;
            q.range_len = st->range_len;
        }
        if (st->has_ims) {
            q.ims = (const uint8_t *)st->ims;
            q.ims_len = st->ims_len;
        }
        if (st->has_inm) {
            q.inm = (const uint8_t *)st->inm;
            q.inm_len = st->inm_len;
        }
        if (st->has_if_range) {
            q.if_range = (const uint8_t *)st->if_range;
            q.if_range_len = st->if_range_len;
        }
        if (st->has_if_match) {
            q.if_match = (const uint8_t *)st->if_match;
            q.if_match_len = st->if_match_len;
        }
        if (st->has_iums) {
            q.iums = (const uint8_t *)st->iums;
            q.iums_len = st->iums_len;
        }
        q.gzip_ok = st->has_ae && accepts_gzip((const uint8_t *)st->ae, st->ae_len);
        serve_path(d, &q, &s);
        status = s.status;
    }
    /* headers as nginx's ngx_http_v2_header_filter orders them */
    nghttp2_nv nv[12];
    size_t n = 0;
    char st_s[4], date[32], lm[32], clen[24], ctype[96] = "text/html";
    int head = st->method == M_HEAD;
    const uint8_t *body = NULL;
    size_t body_len = 0;
    char page[1024];
    pt_decoy_file f404;
    int have404 = 0;
    char etag404[48];
    snprintf(st_s, sizeof(st_s), "%d", status == 494 ? 400 : status);
    http_date(date, d->unix_now);
    nv_add(nv, &n, ":status", st_s);
    nv_add(nv, &n, "server", d->cfg.server);
    nv_add(nv, &n, "date", date);
    uint8_t *mbody = NULL;
    if (status == 206 && s.nranges > 1) {
        size_t data_at[16];
        mbody = multipart_body(&s, ctype, sizeof(ctype), &body_len, data_at);
        if (!mbody) {
            if (s.have_file || s.f.owned) {
                pt_decoy_file_release(&s.f);
            }
            return NGHTTP2_ERR_NOMEM;
        }
        body = mbody;
        /* nginx's DATA frames end before the bytes of every range but the
         * first (each is its own file buffer in its chain) */
        st->nsplits = 0;
        for (int i = 1; i < s.nranges; i++) {
            st->splits[st->nsplits++] = data_at[i];
        }
    } else if (status == 200 || status == 206) {
        size_t off = status == 206 ? (size_t)s.rs[0] : 0;
        size_t len = status == 206 ? (size_t)(s.re[0] - s.rs[0]) : s.f.len;
        snprintf(ctype, sizeof(ctype), "%s", s.ctype);
        body = s.f.data + off;
        body_len = len;
    } else if (status == 404 && page_404(d, &f404)) {
        have404 = 1;
        body = f404.data;
        body_len = f404.len;
        make_etag(etag404, &f404);
    } else if (status != 304) {
        body_len = error_page(page, sizeof(page), d->cfg.server, status, st->ua_pad);
        body = (const uint8_t *)page;
    }
    int gzip_ok = st->has_ae && accepts_gzip((const uint8_t *)st->ae, st->ae_len);
    int gz = status != 304 && gzip_applies(gzip_ok, status, ctype, body_len, head);
    uint8_t *zbody = NULL;
    char wetag[56];
    if (gz) {
        zbody = gzip_compress(body, body_len, &body_len);
        if (!zbody) {
            gz = 0; /* out of memory: send it plain */
            body_len = 0;
        }
        body = zbody;
    }
    if (status != 304) {
        nv_add(nv, &n, "content-type", ctype);
        if (!gz) {
            snprintf(clen, sizeof(clen), "%zu", body_len);
            nv_add(nv, &n, "content-length", clen);
        }
    }
    if (status == 200 || status == 206 || status == 304) {
        http_date(lm, s.f.mtime);
        nv_add(nv, &n, "last-modified", lm);
        snprintf(wetag, sizeof(wetag), "%s%s", gz ? "W/" : "", s.etag);
        nv_add(nv, &n, "etag", wetag);
    }
    if (have404) {
        snprintf(wetag, sizeof(wetag), "%s%s", gz ? "W/" : "", etag404);
        nv_add(nv, &n, "etag", wetag);
    }
    if (status == 301 && s.has_location) {
        nv_add(nv, &n, "location", s.location);
    }
    if (status == 200 && !gz) {
        nv_add(nv, &n, "accept-ranges", "bytes");
    }
    if (gz) {
        nv_add(nv, &n, "content-encoding", "gzip");
    }
    if ((status == 206 || status == 416) && s.content_range[0]) {
        nv_add(nv, &n, "content-range", s.content_range);
    }
    int rc = 0;
    if (!head && body_len > 0) {
        d->h2_busy = st->id; /* the next answer waits for this body */
    }
    if (nginx_block(d, st->id, nv, n) != PT_ERR_OK) {
        rc = NGHTTP2_ERR_NOMEM;
    } else if (!head && body_len > 0) {
        st->body = malloc(body_len);
        if (!st->body) {
            rc = NGHTTP2_ERR_NOMEM;
        } else {
            memcpy(st->body, body, body_len);
            st->body_len = body_len;
            nghttp2_data_provider prd;
            prd.source.ptr = st;
            prd.read_callback = h2_read_body;
            rc = nghttp2_submit_response(d->h2, st->id, nv, n, &prd);
        }
    } else {
        rc = nghttp2_submit_response(d->h2, st->id, nv, n, NULL);
    }
    free(zbody);
    free(mbody);
    if (have404) {
        pt_decoy_file_release(&f404);
    }
    if (s.have_file || s.f.owned) {
        pt_decoy_file_release(&s.f);
    }
    return rc;
}

static int h2_on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user)
{
    pt_decoy *d = user;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
        return 0;
    }
    h2_stream *s = calloc(1, sizeof(*s));
    if (!s) {
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    s->id = frame->hd.stream_id;
    s->next = d->streams;
    d->streams = s;
    d->h2_had_stream = 1;
    nghttp2_session_set_stream_user_data(session, s->id, s);
    return 0;
}

static void copy_hdr(char *dst, size_t cap, size_t *len, int *has, const uint8_t *v, size_t vl)
{
    if (vl >= cap) {
        vl = cap - 1;
    }
    memcpy(dst, v, vl);
    dst[vl] = '\0';
    *len = vl;
    *has = 1;
}

static int h2_on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                        size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                        void *user)
{
    (void)flags;
    (void)user;
    h2_stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (!s) {
        return 0;
    }
#define IS(lit) (namelen == sizeof(lit) - 1 && memcmp(name, lit, namelen) == 0)
    unsigned uq = unique_bit(name, namelen);
    if (uq & s->seen_unique) {
        s->bad = 1; /* nginx: the same 400 as over HTTP/1 */
    }
    s->seen_unique |= uq;
    if (IS(":method")) {
        s->method = (valuelen == 3 && memcmp(value, "GET", 3) == 0)    ? M_GET
                    : (valuelen == 4 && memcmp(value, "HEAD", 4) == 0) ? M_HEAD
                    : (valuelen == 4 && memcmp(value, "POST", 4) == 0) ? M_POST
                                                                       : M_OTHER;
    } else if (IS(":path")) {
        if (valuelen >= sizeof(s->path)) {
            s->bad = 1;
        } else {
            memcpy(s->path, value, valuelen);
            s->path_len = valuelen;
        }
    } else if (IS("range")) {
        copy_hdr(s->range, sizeof(s->range), &s->range_len, &s->has_range, value, valuelen);
    } else if (IS("if-none-match")) {
        copy_hdr(s->inm, sizeof(s->inm), &s->inm_len, &s->has_inm, value, valuelen);
    } else if (IS("if-modified-since")) {
        copy_hdr(s->ims, sizeof(s->ims), &s->ims_len, &s->has_ims, value, valuelen);
    } else if (IS("accept-encoding")) {
        copy_hdr(s->ae, sizeof(s->ae), &s->ae_len, &s->has_ae, value, valuelen);
    } else if (IS("if-range")) {
        copy_hdr(s->if_range, sizeof(s->if_range), &s->if_range_len, &s->has_if_range, value,
                 valuelen);
    } else if (IS("if-match")) {
        copy_hdr(s->if_match, sizeof(s->if_match), &s->if_match_len, &s->has_if_match, value,
                 valuelen);
    } else if (IS("if-unmodified-since")) {
        copy_hdr(s->iums, sizeof(s->iums), &s->iums_len, &s->has_iums, value, valuelen);
    } else if (IS("user-agent") && !s->has_ua) {
        s->has_ua = 1;
        user_agent_flags(value, valuelen, &s->ua_pad, &s->msie6);
    }
#undef IS
    return 0;
}

static int h2_on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user)
{
    pt_decoy *d = user;
    if (frame->hd.type == NGHTTP2_SETTINGS && !(frame->hd.flags & NGHTTP2_FLAG_ACK)) {
        for (size_t i = 0; i < frame->settings.niv; i++) {
            if (frame->settings.iv[i].settings_id == NGHTTP2_SETTINGS_HEADER_TABLE_SIZE) {
                d->h2_table_update = 1; /* ngx_http_v2_state_settings_params */
            }
        }
    }
    if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        h2_stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
        if (s && d->h2_busy) {
            s->qnext = NULL;
            if (d->h2_queue_tail) {
                d->h2_queue_tail->qnext = s;
            } else {
                d->h2_queue = s;
            }
            d->h2_queue_tail = s;
        } else if (s && h2_respond(d, s) != 0) {
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
    }
    return 0;
}

static int h2_on_stream_close(nghttp2_session *session, int32_t id, uint32_t code, void *user)
{
    (void)session;
    (void)code;
    pt_decoy *d = user;
    /* Out of the answer queue (a stream the client reset), then free. */
    for (h2_stream **pp = &d->h2_queue, *prev = NULL; *pp; prev = *pp, pp = &(*pp)->qnext) {
        if ((*pp)->id == id) {
            if (d->h2_queue_tail == *pp) {
                d->h2_queue_tail = prev;
            }
            *pp = (*pp)->qnext;
            break;
        }
    }
    h2_remove(d, id);
    if (id == d->h2_busy) {
        d->h2_busy = 0;
    }
    while (!d->h2_busy && d->h2_queue) {
        h2_stream *next = d->h2_queue;
        d->h2_queue = next->qnext;
        if (!d->h2_queue) {
            d->h2_queue_tail = NULL;
        }
        if (h2_respond(d, next) != 0) {
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
    }
    /* Its HEADERS may be in the output nghttp2 is handing out right now
     * (it closes streams as it hands out their last frame): the block goes
     * once that output is processed (h2_flush). A reset stream's block,
     * never sent, goes the same way. */
    for (hblock *hb = d->hblocks; hb; hb = hb->next) {
        hb->closed |= hb->id == id;
    }
    return 0;
}

static int h2_start(pt_decoy *d)
{
    nghttp2_session_callbacks *cb;
    if (nghttp2_session_callbacks_new(&cb) != 0) {
        return PT_ERR_NOMEM;
    }
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, h2_on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, h2_on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, h2_on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, h2_on_stream_close);
    nghttp2_option *opt;
    if (nghttp2_option_new(&opt) != 0) {
        nghttp2_session_callbacks_del(cb);
        return PT_ERR_NOMEM;
    }
    /* nginx sends no RFC 9218 / h2 extensions; no automatic
     * WINDOW_UPDATE tuning beyond what nginx does. */
    nghttp2_option_set_no_http_messaging(opt, 0);
    int rc = nghttp2_session_server_new2(&d->h2, cb, d, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);
    if (rc != 0 || nghttp2_hd_deflate_new(&d->huff, 0) != 0) {
        return PT_ERR_NOMEM;
    }
    /* nginx 1.22's server preface: SETTINGS (MAX_CONCURRENT_STREAMS 128,
     * INITIAL_WINDOW_SIZE 65536, MAX_FRAME_SIZE 16777215) and a connection
     * WINDOW_UPDATE to 2^31-1 (ngx_http_v2_send_settings). */
    nghttp2_settings_entry iv[3] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 128},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 65536},
        {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, 16777215},
    };
    if (nghttp2_submit_settings(d->h2, NGHTTP2_FLAG_NONE, iv, 3) != 0 ||
        nghttp2_submit_window_update(d->h2, NGHTTP2_FLAG_NONE, 0, 2147483647 - 65535) != 0) {
        return PT_ERR_NOMEM;
    }
    return PT_ERR_OK;
}

/* h2_out: add nghttp2's output |p| to ours, each response HEADERS frame
 * with the block nginx would write (nginx_block). nghttp2 hands out whole
 * frames or the rest of one (h2_out_skip); a HEADERS frame it cut, or one
 * for a stream we did not answer, would leave the client's HPACK table in
 * a state nobody knows: PT_ERR_PROTO ends the connection instead. */
static int h2_out(pt_decoy *d, const uint8_t *p, size_t n)
{
    while (n > 0) {
        if (d->h2_out_skip) {
            size_t k = d->h2_out_skip < n ? d->h2_out_skip : n;
            if (out_add(d, p, k) != PT_ERR_OK) {
                return PT_ERR_NOMEM;
            }
            d->h2_out_skip -= k;
            p += k;
            n -= k;
            continue;
        }
        if (n < 9) {
            return PT_ERR_PROTO;
        }
        size_t flen = (size_t)p[0] << 16 | (size_t)p[1] << 8 | p[2];
        if (p[3] != NGHTTP2_HEADERS) {
            d->h2_out_skip = 9 + flen;
            continue;
        }
        int32_t sid = (int32_t)(((uint32_t)p[5] << 24 | (uint32_t)p[6] << 16 |
                                 (uint32_t)p[7] << 8 | p[8]) & 0x7fffffffu);
        hblock **pp = &d->hblocks;
        while (*pp && (*pp)->id != sid) {
            pp = &(*pp)->next;
        }
        hblock *hb = *pp;
        if (9 + flen > n || !hb || !(p[4] & NGHTTP2_FLAG_END_HEADERS) ||
            (p[4] & (NGHTTP2_FLAG_PADDED | NGHTTP2_FLAG_PRIORITY)) || hb->len > 16384) {
            return PT_ERR_PROTO;
        }
        *pp = hb->next;
        uint8_t hdr[9];
        memcpy(hdr, p, 9);
        hdr[0] = (uint8_t)(hb->len >> 16);
        hdr[1] = (uint8_t)(hb->len >> 8);
        hdr[2] = (uint8_t)hb->len;
        int rc_out = out_add(d, hdr, 9) != PT_ERR_OK || out_add(d, hb->data, hb->len) != PT_ERR_OK;
        free(hb);
        if (rc_out) {
            return PT_ERR_NOMEM;
        }
        p += 9 + flen;
        n -= 9 + flen;
    }
    return PT_ERR_OK;
}

/* Move what nghttp2 wants to send into the output buffer. */
static int h2_flush(pt_decoy *d)
{
    for (;;) {
        const uint8_t *p;
        ssize_t n = nghttp2_session_mem_send(d->h2, &p);
        if (n < 0) {
            return PT_ERR_NOMEM;
        }
        if (n == 0) {
            return PT_ERR_OK;
        }
        int rc = h2_out(d, p, (size_t)n);
        if (rc != PT_ERR_OK) {
            return rc;
        }
        for (hblock **pp = &d->hblocks; *pp;) {
            hblock *hb = *pp;
            if (hb->closed) {
                *pp = hb->next;
                free(hb);
            } else {
                pp = &hb->next;
            }
        }
        if (out_pending(d) >= OUT_HIGH) {
            return PT_ERR_OK;
        }
    }
}

static void h2_idle_deadline(pt_decoy *d, uint64_t now)
{
    /* Before the first request: client_header_timeout from the start;
     * with streams open: none (nginx's send/read timeouts); idle after
     * requests: keepalive_timeout. */
    if (d->streams) {
        d->deadline = UINT64_MAX;
    } else if (d->h2_had_stream) {
        d->deadline = now + d->cfg.keepalive_timeout_ms;
    }
}

static void h2_goaway_close(pt_decoy *d, uint32_t code)
{
    if (!d->h2_goaway_sent) {
        d->h2_goaway_sent = 1;
        int32_t last = nghttp2_session_get_last_proc_stream_id(d->h2);
        nghttp2_submit_goaway(d->h2, NGHTTP2_FLAG_NONE, last, code, NULL, 0);
        (void)h2_flush(d);
    }
    set_close(d, PT_DECOY_CLOSE);
}

/* h2_ignored: frames nginx reads and drops where nghttp2 would end the
 * connection (measured, probes tls-h2f-*): DATA and RST_STREAM for a stream
 * that is not open ("unknown http2 stream": skipped), and a well-formed
 * GOAWAY from the client (logged, nothing else). */
static int h2_ignored(pt_decoy *d)
{
    const uint8_t *h = d->h2_hdr;
    size_t flen = (size_t)h[0] << 16 | (size_t)h[1] << 8 | h[2];
    int32_t sid = (int32_t)(((uint32_t)h[5] << 24 | (uint32_t)h[6] << 16 | (uint32_t)h[7] << 8 |
                             h[8]) & 0x7fffffffu);
    switch (h[3]) {
    case NGHTTP2_DATA:
        return sid != 0 && !nghttp2_session_get_stream_user_data(d->h2, sid);
    case NGHTTP2_RST_STREAM:
        return sid != 0 && flen == 4 && !nghttp2_session_get_stream_user_data(d->h2, sid);
    case NGHTTP2_GOAWAY:
        return sid == 0 && flen >= 8;
    default:
        return 0;
    }
}

static int h2_process(pt_decoy *d, const uint8_t *in, size_t len, uint64_t now)
{
    /* nginx answers each frame before it reads the next (a SETTINGS ACK
     * goes out before the GOAWAY that a bad next frame brings); nghttp2
     * given a whole read would act on it all first. So: frame by frame,
     * flushing after each; frame headers are gathered first, to drop what
     * nginx drops (h2_ignored). */
    int rc = PT_ERR_OK;
    while (len > 0 && rc == PT_ERR_OK) {
        const uint8_t *feed = in;
        size_t k, nfeed;
        int ends = 0;
        if (d->h2_preface_left) {
            k = nfeed = len < d->h2_preface_left ? len : d->h2_preface_left;
            d->h2_preface_left -= k;
            ends = d->h2_preface_left == 0;
        } else if (d->h2_hdr_got < 9) {
            k = 9 - d->h2_hdr_got < len ? 9 - d->h2_hdr_got : len;
            memcpy(d->h2_hdr + d->h2_hdr_got, in, k);
            d->h2_hdr_got += k;
            nfeed = 0;
            if (d->h2_hdr_got == 9) {
                d->h2_payload_left =
                    (size_t)d->h2_hdr[0] << 16 | (size_t)d->h2_hdr[1] << 8 | d->h2_hdr[2];
                d->h2_skip = h2_ignored(d);
                feed = d->h2_hdr;
                nfeed = d->h2_skip ? 0 : 9;
                ends = d->h2_payload_left == 0;
            }
        } else {
            k = len < d->h2_payload_left ? len : d->h2_payload_left;
            d->h2_payload_left -= k;
            nfeed = d->h2_skip ? 0 : k;
            ends = d->h2_payload_left == 0;
        }
        if (nfeed && nghttp2_session_mem_recv(d->h2, feed, nfeed) < 0) {
            /* nginx: GOAWAY PROTOCOL_ERROR and close */
            h2_goaway_close(d, NGHTTP2_PROTOCOL_ERROR);
            return PT_ERR_OK;
        }
        in += k;
        len -= k;
        if (ends) {
            d->h2_hdr_got = 0; /* (also right after the preface: 0 already) */
            rc = h2_flush(d);
        }
    }
    if (rc == PT_ERR_OK) {
        rc = h2_flush(d);
    }
    if (!nghttp2_session_want_read(d->h2) && !nghttp2_session_want_write(d->h2)) {
        set_close(d, PT_DECOY_CLOSE);
        return rc;
    }
    h2_idle_deadline(d, now);
    return rc;
}

/* ---- public API
 * ---------------------------------------------------------------------------------- */

int pt_decoy_new(pt_decoy **out, const pt_decoy_config *cfg, pt_decoy_proto proto,
                 uint64_t start_ms, pt_decoy_time now)
{
    *out = NULL;
    if (!cfg || !cfg->server || proto > PT_DECOY_PLAIN_ON_TLS) {
        return PT_ERR_INVAL;
    }
    pt_decoy *d = calloc(1, sizeof(*d));
    if (!d) {
        return PT_ERR_NOMEM;
    }
    d->cfg = *cfg;
    d->site = cfg->site ? cfg->site : pt_decoy_site_builtin();
    d->proto = proto;
    d->unix_now = now.unix_s;
    d->first_request = 1;
    d->in = malloc(IN_MAX + IN_SLACK);
    if (!d->in) {
        free(d);
        return PT_ERR_NOMEM;
    }
    /* client_header_timeout runs from when nginx armed it. */
    d->deadline = start_ms + cfg->client_header_timeout_ms;
    if (proto == PT_DECOY_HTTP2) {
        set_state(d, D_H2);
        d->h2_preface_left = 24; /* "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" */
        if (h2_start(d) != PT_ERR_OK || h2_flush(d) != PT_ERR_OK) {
            pt_decoy_free(d);
            return PT_ERR_NOMEM;
        }
        if (cfg->h2_preface_sent) {
            /* The preface went out before us (PROTOCOL.md §5.3). nghttp2
             * made the same bytes, so its state (SETTINGS in flight, the
             * window) is that of having sent them: drop only the bytes. */
            const uint8_t *p;
            size_t n = pt_decoy_output(d, &p);
            if (n != PT_HS_H2_PREFACE_LEN || memcmp(p, pt_hs_h2_preface, n) != 0) {
                pt_decoy_free(d); /* nghttp2 would not say what nginx says */
                return PT_ERR_INVAL;
            }
            d->out_off = d->out_len = 0;
        }
    } else {
        set_state(d, D_HEAD);
    }
    *out = d;
    return PT_ERR_OK;
}

void pt_decoy_free(pt_decoy *d)
{
    if (!d) {
        return;
    }
    if (d->h2) {
        nghttp2_session_del(d->h2); /* calls on_stream_close for open streams */
    }
    if (d->huff) {
        nghttp2_hd_deflate_del(d->huff);
    }
    while (d->hblocks) {
        hblock *hb = d->hblocks;
        d->hblocks = hb->next;
        free(hb);
    }
    while (d->streams) {
        h2_remove(d, d->streams->id);
    }
    free(d->in);
    free(d->out);
    free(d);
}

int pt_decoy_on_bytes(pt_decoy *d, const uint8_t *in, size_t len, pt_decoy_time now)
{
    d->unix_now = now.unix_s;
    if (d->state == D_DONE || len == 0) {
        return PT_ERR_OK; /* nginx no longer reads; the bytes are dropped */
    }
    if (d->state == D_H2) {
        return h2_process(d, in, len, now.ms);
    }
    if (!pt_decoy_wants_read(d) || len > IN_MAX + IN_SLACK - d->in_len) {
        return PT_ERR_NOBUFS; /* nothing taken */
    }
    while (len > 0 && d->close_how == PT_DECOY_OPEN) {
        size_t room = IN_MAX + IN_SLACK - d->in_len;
        if (room == 0) {
            /* More than any head nginx accepts: the limits below fire
             * first, so this only happens while output is pending. */
            return PT_ERR_NOBUFS;
        }
        size_t take = len < room ? len : room;
        memcpy(d->in + d->in_len, in, take);
        d->in_len += take;
        in += take;
        len -= take;
        int rc = h1_process(d, now.ms);
        if (rc != PT_ERR_OK) {
            return rc;
        }
    }
    return PT_ERR_OK;
}

void pt_decoy_on_eof(pt_decoy *d, pt_decoy_time now)
{
    d->unix_now = now.unix_s;
    if (d->state == D_DONE) {
        return;
    }
    if (d->state == D_H2) {
        /* nginx closes the h2 connection on EOF without a GOAWAY. */
        set_close(d, PT_DECOY_CLOSE_QUIET);
        return;
    }
    /* "client prematurely closed connection": c->error, no response for a
     * partial request; a response being sent still goes out. */
    set_close(d, PT_DECOY_CLOSE_QUIET);
}

void pt_decoy_on_timer(pt_decoy *d, pt_decoy_time now)
{
    d->unix_now = now.unix_s;
    if (d->deadline == UINT64_MAX || now.ms < d->deadline || d->state == D_DONE) {
        return;
    }
    if (d->state == D_H2) {
        /* ngx_http_v2_idle_handler / preface timeout: GOAWAY NO_ERROR. */
        h2_goaway_close(d, NGHTTP2_NO_ERROR);
        return;
    }
    set_close(d, d->quiet_timeout ? PT_DECOY_CLOSE_QUIET : PT_DECOY_CLOSE);
}

size_t pt_decoy_output(pt_decoy *d, const uint8_t **out)
{
    *out = d->out ? d->out + d->out_off : (const uint8_t *)"";
    return out_pending(d);
}

void pt_decoy_output_done(pt_decoy *d, size_t n, pt_decoy_time now)
{
    d->unix_now = now.unix_s;
    if (n > out_pending(d)) {
        n = out_pending(d);
    }
    d->out_off += n;
    if (d->out_off == d->out_len) {
        d->out_off = d->out_len = 0;
    }
    if (d->state == D_H2 && d->close_how == PT_DECOY_OPEN) {
        (void)h2_flush(d);
        h2_idle_deadline(d, now.ms);
        return;
    }
    if ((d->state == D_HEAD || d->state == D_BODY) && out_pending(d) < OUT_HIGH &&
        d->pos < d->in_len) {
        (void)h1_process(d, now.ms);
    }
}

uint64_t pt_decoy_deadline(const pt_decoy *d)
{
    return d->deadline;
}

pt_decoy_close pt_decoy_close_how(const pt_decoy *d)
{
    return d->close_how;
}

int pt_decoy_wants_read(const pt_decoy *d)
{
    if (d->state == D_DONE) {
        return 0;
    }
    if (d->state == D_H2) {
        return out_pending(d) < OUT_HIGH;
    }
    return out_pending(d) < OUT_HIGH && d->in_len < IN_MAX;
}
