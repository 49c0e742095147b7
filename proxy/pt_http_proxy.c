/* pt_http_proxy.c — sans-I/O HTTP proxy request parser; see pt_http_proxy.h.
 *
 * Two passes. The scanner looks at each byte as it is copied into the head
 * buffer: it enforces the size limits and rejects what can never start a
 * valid head (control bytes, bare CR, obs-fold) at the first bad byte, and
 * notes where each line is. Once the blank line arrives the parser reads the
 * lines again with pt_cbs: request line, target, fields, credentials.
 */
#include "pt_http_proxy.h"

#include <arpa/inet.h>
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "pt_err.h"
#include "pt_frame.h"

#define SCAN_MORE 1 /* internal: the head continues */
#define SCAN_DONE 2 /* internal: the blank line ending the head arrived */

/* Base64 of the longest credentials we can accept, user ':' pass. */
#define CRED_DECODED_MAX (2 * PT_PROXY_CRED_MAX + 1)    /* 511 */
#define CRED_B64_MAX (((CRED_DECODED_MAX + 2) / 3) * 4) /* 684 */
#define DETAIL_MAX 400                                  /* of a response body's text */

/* ---- byte classes (RFC 9110 §5.6.2, RFC 3986 §2) -------------------------- */

static int is_digit(uint8_t b)
{
    return b >= '0' && b <= '9';
}
static int is_alpha(uint8_t b)
{
    return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z');
}
static int is_ows(uint8_t b)
{
    return b == ' ' || b == '\t';
}

static int is_tchar(uint8_t b)
{
    return is_alpha(b) || is_digit(b) || (b != 0 && strchr("!#$%&'*+-.^_`|~", b) != NULL);
}

/* reg-name without pct-encoding: unreserved / sub-delims. A '%' host is
 * refused rather than decoded: no resolver wants one. */
static int is_regname_char(uint8_t b)
{
    return is_alpha(b) || is_digit(b) || (b != 0 && strchr("-._~!$&'()*+,;=", b) != NULL);
}

static uint8_t lower(uint8_t b)
{
    return (b >= 'A' && b <= 'Z') ? (uint8_t)(b + 32) : b;
}

/* ---- pt_cbs helpers -------------------------------------------------------- */

static uint8_t cbs_at(const pt_cbs *c, size_t i)
{
    return pt_cbs_data(c)[i];
}

/* Case-insensitive comparison of |c| with the literal |lit|. */
static int cbs_ieq(const pt_cbs *c, const char *lit)
{
    size_t n = strlen(lit);
    if (pt_cbs_len(c) != n) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (lower(cbs_at(c, i)) != lower((uint8_t)lit[i])) {
            return 0;
        }
    }
    return 1;
}

static int cbs_ieq_cbs(const pt_cbs *a, const pt_cbs *b)
{
    if (pt_cbs_len(a) != pt_cbs_len(b)) {
        return 0;
    }
    for (size_t i = 0; i < pt_cbs_len(a); i++) {
        if (lower(cbs_at(a, i)) != lower(cbs_at(b, i))) {
            return 0;
        }
    }
    return 1;
}

/* Case-sensitive comparison with a literal. */
static int cbs_eq(const pt_cbs *c, const char *lit)
{
    size_t n = strlen(lit);
    return pt_cbs_len(c) == n && (n == 0 || memcmp(pt_cbs_data(c), lit, n) == 0);
}

static int cbs_iprefix(const pt_cbs *c, const char *lit)
{
    size_t n = strlen(lit);
    pt_cbs head;
    pt_cbs t = *c;
    return pt_cbs_get_bytes(&t, &head, n) && cbs_ieq(&head, lit);
}

/* Number of leading bytes of |c| that are not in |stops|. */
static size_t cbs_span_until(const pt_cbs *c, const char *stops)
{
    size_t i = 0;
    while (i < pt_cbs_len(c) && strchr(stops, cbs_at(c, i)) == NULL) {
        i++;
    }
    return i;
}

static int cbs_has(const pt_cbs *c, uint8_t b)
{
    return pt_cbs_len(c) && memchr(pt_cbs_data(c), b, pt_cbs_len(c)) != NULL;
}

/* Sets |out| to the bytes before the first |delim| and consumes them and the
 * delimiter; returns 0 (and leaves |c|) if there is none. */
static int cbs_get_until(pt_cbs *c, uint8_t delim, pt_cbs *out)
{
    char stops[2] = {(char)delim, 0};
    size_t n = cbs_span_until(c, stops);
    if (n == pt_cbs_len(c)) {
        return 0;
    }
    return pt_cbs_get_bytes(c, out, n) && pt_cbs_skip(c, 1);
}

static void cbs_trim_ows(pt_cbs *c)
{
    while (pt_cbs_len(c) && is_ows(cbs_at(c, 0))) {
        pt_cbs_skip(c, 1);
    }
    size_t n = pt_cbs_len(c);
    while (n && is_ows(cbs_at(c, n - 1))) {
        n--;
    }
    pt_cbs_init(c, pt_cbs_data(c), n);
}

static int cbs_is_token(const pt_cbs *c)
{
    if (pt_cbs_len(c) == 0) {
        return 0;
    }
    for (size_t i = 0; i < pt_cbs_len(c); i++) {
        if (!is_tchar(cbs_at(c, i))) {
            return 0;
        }
    }
    return 1;
}

/* Next element of a comma-separated list (RFC 9110 §5.6.1), trimmed; empty
 * elements are skipped. Returns 0 at the end of the list. */
static int list_next(pt_cbs *list, pt_cbs *elem)
{
    while (pt_cbs_len(list)) {
        if (!cbs_get_until(list, ',', elem)) {
            *elem = *list;
            pt_cbs_init(list, pt_cbs_data(list) + pt_cbs_len(list), 0);
        }
        cbs_trim_ows(elem);
        if (pt_cbs_len(elem)) {
            return 1;
        }
    }
    return 0;
}

/* Copies |c| into |out| as a C string; 0 if it does not fit. */
static int cbs_to_cstr(const pt_cbs *c, char *out, size_t cap)
{
    if (pt_cbs_len(c) >= cap) {
        return 0;
    }
    pt_cbs t = *c;
    if (!pt_cbs_copy_bytes(&t, (uint8_t *)out, pt_cbs_len(c))) {
        return 0;
    }
    out[pt_cbs_len(c)] = 0;
    return 1;
}

/* ---- state ------------------------------------------------------------------ */

#ifdef PT_HTTP_PROXY_DEBUG
#define HTTP_PROXY_LOG(...) fprintf(stderr, "pt_http_proxy: " __VA_ARGS__)
#else
#define HTTP_PROXY_LOG(...) ((void)0)
#endif

static const char *const kStateNames[] = {
    [PT_HTTP_PROXY_HEAD] = "HEAD",
    [PT_HTTP_PROXY_DONE] = "DONE",
    [PT_HTTP_PROXY_FAILED] = "FAILED",
};

static void set_state(pt_http_proxy *p, pt_http_proxy_state st)
{
    HTTP_PROXY_LOG("%p %s -> %s\n", (void *)p, kStateNames[p->state], kStateNames[st]);
    (void)kStateNames;
    p->state = st;
}

static int reject(pt_http_proxy *p, unsigned status, const char *why)
{
    HTTP_PROXY_LOG("%p refused (%u): %s\n", (void *)p, status, why);
    p->status = status;
    p->fail_reason = why;
    set_state(p, PT_HTTP_PROXY_FAILED);
    return PT_ERR_PROTO;
}

int pt_http_proxy_init(pt_http_proxy *p, const pt_proxy_cred *auth, uint8_t *buf, size_t cap)
{
    memset(p, 0, sizeof(*p));
    p->state = PT_HTTP_PROXY_FAILED;
    if (!buf || cap < PT_HTTP_PROXY_HEAD_MAX) {
        return PT_ERR_INVAL;
    }
    if (auth && !pt_proxy_cred_valid(auth)) {
        return PT_ERR_CONFIG;
    }
    p->auth = auth;
    p->buf = buf;
    p->cap = cap;
    p->state = PT_HTTP_PROXY_HEAD;
    return PT_ERR_OK;
}

void pt_http_proxy_cleanup(pt_http_proxy *p)
{
    if (p->buf && p->len) {
        sodium_memzero(p->buf, p->len);
    }
    sodium_memzero(p, sizeof(*p));
}

/* ---- scanner --------------------------------------------------------------- */

/* A line [line_start, end) ended; the next starts at |next|. */
static int end_of_line(pt_http_proxy *p, size_t end, size_t next)
{
    size_t n = end - p->line_start;
    if (!p->reqline_done) {
        if (n == 0) {
            /* RFC 9112 §2.2: ignore blank lines before the request line
             * (they count against the request-line limit). */
            p->line_start = next;
            return SCAN_MORE;
        }
        pt_cbs_init(&p->reqline, p->buf + p->line_start, n);
        p->reqline_done = 1;
        p->head_start = next;
        p->line_start = next;
        return SCAN_MORE;
    }
    if (n == 0) {
        return SCAN_DONE;
    }
    if (p->nfields == PT_HTTP_PROXY_FIELDS_MAX) {
        return reject(p, 431, "more than 100 header fields");
    }
    pt_cbs_init(&p->fields[p->nfields++].line, p->buf + p->line_start, n);
    p->line_start = next;
    return SCAN_MORE;
}

/* Byte |b| was stored at offset |i|. */
static int scan_byte(pt_http_proxy *p, size_t i, uint8_t b)
{
    if (p->cr) {
        p->cr = 0;
        if (b != '\n') {
            /* RFC 9112 §2.2: a bare CR is invalid; rejecting beats guessing
             * what the next hop would make of it. */
            return reject(p, 400, "CR not followed by LF");
        }
        return end_of_line(p, i - 1, i + 1);
    }
    if (b == '\r') {
        p->cr = 1;
        return SCAN_MORE;
    }
    if (b == '\n') {
        return end_of_line(p, i, i + 1);
    }
    if (!p->reqline_done) {
        /* method SP target SP version: visible ASCII and SP only. A TLS
         * ClientHello (0x16...) or a SOCKS greeting fails at byte one. */
        if (b < 0x20 || b > 0x7e) {
            return reject(p, 400, "control or non-ASCII byte in the request line");
        }
        return SCAN_MORE;
    }
    if (i == p->line_start && is_ows(b)) {
        /* RFC 9112 §5.2: obs-fold; §2.2: whitespace before the first field. */
        return reject(p, 400, "header line starts with whitespace (obs-fold)");
    }
    if ((b < 0x20 && b != '\t') || b == 0x7f) {
        return reject(p, 400, "control byte in a header field");
    }
    return SCAN_MORE;
}

/* ---- request line and target ----------------------------------------------- */

/* "HTTP/" DIGIT "." DIGIT, case-sensitive (RFC 9112 §2.3): 1 for 1.x, 0
 * for another valid version, -1 for garbage. */
static int parse_version(const pt_cbs *v)
{
    pt_cbs c = *v, name;
    uint8_t major, dot, minor;
    if (!pt_cbs_get_bytes(&c, &name, 5) || !cbs_eq(&name, "HTTP/") || !pt_cbs_get_u8(&c, &major) ||
        !pt_cbs_get_u8(&c, &dot) || !pt_cbs_get_u8(&c, &minor) || pt_cbs_len(&c) != 0 ||
        !is_digit(major) || dot != '.' || !is_digit(minor)) {
        return -1;
    }
    return major == '1' ? 1 : 0;
}

/* Fills p->target from a host as written in a URI: "[v6]", dotted IPv4 or a
 * reg-name. */
static int set_target_host(pt_http_proxy *p, const pt_cbs *host, uint16_t port)
{
    pt_addr *a = &p->target;
    char text[PT_ADDR_DOMAIN_MAX + 1];
    size_t n = pt_cbs_len(host);

    memset(a, 0, sizeof(*a));
    if (n == 0) {
        return reject(p, 400, "empty host");
    }
    if (cbs_at(host, 0) == '[') {
        pt_cbs inner = *host;
        if (n < 3 || cbs_at(host, n - 1) != ']') {
            return reject(p, 400, "bad IPv6 literal");
        }
        pt_cbs_skip(&inner, 1);
        pt_cbs_init(&inner, pt_cbs_data(&inner), n - 2);
        /* inet_pton refuses zone IDs ("%25eth0") and IPvFuture: good, a
         * zone means nothing to the tunnel server. */
        if (!cbs_to_cstr(&inner, text, INET6_ADDRSTRLEN) ||
            inet_pton(AF_INET6, text, a->u.ipv6) != 1) {
            return reject(p, 400, "bad IPv6 literal");
        }
        a->type = PT_ADDR_IPV6;
        a->port = port;
        return PT_ERR_OK;
    }
    int numeric = 1;
    for (size_t i = 0; i < n; i++) {
        uint8_t b = cbs_at(host, i);
        numeric &= is_digit(b) || b == '.';
        if (!is_regname_char(b)) {
            return reject(p, 400, "bad byte in host name");
        }
    }
    if (numeric) {
        /* Only the dotted quad: "127.1" or "2130706433" would be read as
         * IPv4 by some resolvers and as names by others. */
        if (!cbs_to_cstr(host, text, INET_ADDRSTRLEN) || inet_pton(AF_INET, text, a->u.ipv4) != 1) {
            return reject(p, 400, "bad IPv4 address");
        }
        a->type = PT_ADDR_IPV4;
        a->port = port;
        return PT_ERR_OK;
    }
    /* A name stays a name: the tunnel server resolves it (no DNS leak). */
    if (!cbs_to_cstr(host, text, sizeof(text)) || pt_addr_set_domain(a, text, port) != PT_ERR_OK) {
        return reject(p, 400, "host name longer than 255 bytes");
    }
    return PT_ERR_OK;
}

/* authority = host [":" port] (RFC 3986 §3.2, no userinfo). CONNECT needs
 * the port (RFC 9110 §9.3.6); an http URI defaults to 80. */
static int parse_authority(pt_http_proxy *p, const pt_cbs *authority, int is_connect)
{
    pt_cbs c = *authority, host, portstr;
    int have_port = 0;
    uint32_t port = 80;

    if (cbs_has(&c, '@')) {
        /* RFC 9110 §4.2.4: userinfo in an http(s) URI is an error. */
        return reject(p, 400, "userinfo in the target");
    }
    if (pt_cbs_len(&c) && cbs_at(&c, 0) == '[') {
        size_t n = cbs_span_until(&c, "]");
        if (n == pt_cbs_len(&c) || !pt_cbs_get_bytes(&c, &host, n + 1)) {
            return reject(p, 400, "bad IPv6 literal");
        }
        if (pt_cbs_len(&c) && cbs_at(&c, 0) != ':') {
            return reject(p, 400, "bytes after the IPv6 literal");
        }
        have_port = pt_cbs_skip(&c, 1);
        portstr = c;
    } else if (cbs_get_until(&c, ':', &host)) {
        have_port = 1;
        portstr = c;
    } else {
        host = c;
    }
    if (have_port && pt_cbs_len(&portstr) == 0) {
        have_port = 0; /* "host:" — RFC 3986 allows an empty port */
    }
    if (have_port) {
        port = 0;
        if (pt_cbs_len(&portstr) > 5) {
            return reject(p, 400, "bad port");
        }
        for (size_t i = 0; i < pt_cbs_len(&portstr); i++) {
            uint8_t d = cbs_at(&portstr, i);
            if (!is_digit(d)) {
                return reject(p, 400, "bad port");
            }
            port = port * 10 + (uint32_t)(d - '0');
        }
        if (port == 0 || port > 65535) {
            return reject(p, 400, "bad port");
        }
    } else if (is_connect) {
        return reject(p, 400, "CONNECT target without a port");
    }
    p->host = host;
    p->port_explicit = have_port;
    return set_target_host(p, &host, (uint16_t)port);
}

/* absolute-form "http://" authority [path-abempty] ["?" query]. */
static int parse_absolute(pt_http_proxy *p, const pt_cbs *target)
{
    pt_cbs c = *target, authority;

    if (cbs_iprefix(&c, "https://")) {
        /* A client sends https through CONNECT; a proxy that fetched it
         * would have to do TLS to the origin on the client's behalf. */
        return reject(p, 400, "https:// target: use CONNECT for https");
    }
    if (!cbs_iprefix(&c, "http://")) {
        if (pt_cbs_len(&c) && (cbs_at(&c, 0) == '/' || cbs_at(&c, 0) == '*')) {
            return reject(p, 400, "not a proxy request (origin-form target)");
        }
        return reject(p, 400, "target is not an http:// URI");
    }
    pt_cbs_skip(&c, 7);
    if (cbs_has(&c, '#')) {
        return reject(p, 400, "fragment in the target");
    }
    if (!pt_cbs_get_bytes(&c, &authority, cbs_span_until(&c, "/?"))) {
        return reject(p, 400, "bad target"); /* unreachable: span <= len */
    }
    int rc = parse_authority(p, &authority, 0);
    if (rc != PT_ERR_OK) {
        return rc;
    }
    p->path = c; /* "", "/...", or "?..." */
    p->path_needs_slash = pt_cbs_len(&c) == 0 || cbs_at(&c, 0) == '?';
    return PT_ERR_OK;
}

static int parse_request_line(pt_http_proxy *p)
{
    pt_cbs c = p->reqline, target;

    /* RFC 9112 §3: exactly one SP between the three parts. */
    if (!cbs_get_until(&c, ' ', &p->method) || !cbs_get_until(&c, ' ', &target)) {
        return reject(p, 400, "request line is not: method SP target SP version");
    }
    p->version = c;
    if (!cbs_is_token(&p->method)) {
        return reject(p, 400, "bad method");
    }
    if (pt_cbs_len(&target) == 0) {
        return reject(p, 400, "empty target");
    }
    switch (parse_version(&p->version)) {
    case 1:
        break;
    case 0:
        return reject(p, 505, "only HTTP/1.x is spoken here");
    default:
        return reject(p, 400, "bad HTTP version");
    }
    /* Methods are case-sensitive (RFC 9110 §9.1). */
    if (cbs_eq(&p->method, "CONNECT")) {
        int rc = parse_authority(p, &target, 1);
        if (rc == PT_ERR_OK) {
            p->kind = PT_HTTP_PROXY_CONNECT;
        }
        return rc;
    }
    int rc = parse_absolute(p, &target);
    if (rc == PT_ERR_OK) {
        p->kind = PT_HTTP_PROXY_FORWARD;
    }
    return rc;
}

/* ---- fields ---------------------------------------------------------------- */

/* Fields a Connection option must not remove: the request and body we pass
 * on unparsed depend on them. */
static int framing_field(const pt_cbs *name)
{
    return cbs_ieq(name, "content-length") || cbs_ieq(name, "transfer-encoding") ||
           cbs_ieq(name, "host");
}

static int parse_fields(pt_http_proxy *p)
{
    size_t hosts = 0;
    int conn_upgrade = 0, upgrade_ws = 0;

    for (size_t i = 0; i < p->nfields; i++) {
        pt_http_proxy_field *f = &p->fields[i];
        pt_cbs c = f->line;
        if (!cbs_get_until(&c, ':', &f->name)) {
            return reject(p, 400, "header line without ':'");
        }
        /* RFC 9112 §5.1: whitespace before ':' MUST be rejected; it is not
         * a tchar, so the token check catches it. */
        if (!cbs_is_token(&f->name)) {
            return reject(p, 400, "bad header field name");
        }
        f->value = c;
        cbs_trim_ows(&f->value);

        const pt_cbs *n = &f->name;
        if (cbs_ieq(n, "host")) {
            hosts++;
            f->drop = 1; /* replaced from the URI */
        } else if (cbs_ieq(n, "connection") || cbs_ieq(n, "keep-alive") || cbs_ieq(n, "te") ||
                   cbs_ieq(n, "trailer") || cbs_iprefix(n, "proxy-")) {
            f->drop = 1;
        } else if (cbs_ieq(n, "upgrade")) {
            pt_cbs list = f->value, e, name;
            while (list_next(&list, &e)) {
                /* protocol-name ["/" protocol-version] (RFC 9110 §7.8) */
                if (!cbs_get_until(&e, '/', &name)) {
                    name = e;
                }
                upgrade_ws |= cbs_ieq(&name, "websocket");
            }
            f->drop = 1; /* re-emitted as "Upgrade: websocket" if kept */
        }
    }
    if (hosts > 1) {
        /* RFC 9112 §3.2: more than one Host is a 400. */
        return reject(p, 400, "more than one Host field");
    }
    /* RFC 9110 §7.6.1: drop the fields the Connection options name. */
    for (size_t i = 0; i < p->nfields; i++) {
        if (!cbs_ieq(&p->fields[i].name, "connection")) {
            continue;
        }
        pt_cbs list = p->fields[i].value, opt;
        while (list_next(&list, &opt)) {
            if (cbs_ieq(&opt, "upgrade")) {
                conn_upgrade = 1;
            }
            if (framing_field(&opt)) {
                continue;
            }
            for (size_t j = 0; j < p->nfields; j++) {
                if (cbs_ieq_cbs(&p->fields[j].name, &opt)) {
                    p->fields[j].drop = 1;
                }
            }
        }
    }
    /* RFC 6455 §4.1: a WebSocket handshake is a GET with both. The relay
     * is raw bytes both ways, so the upgraded connection just works. */
    p->websocket =
        upgrade_ws && conn_upgrade && p->kind == PT_HTTP_PROXY_FORWARD && cbs_eq(&p->method, "GET");
    return PT_ERR_OK;
}

/* RFC 9110 §11.7.1 / RFC 7617: Proxy-Authorization: Basic base64(user:pass). */
static int check_auth(pt_http_proxy *p)
{
    const pt_http_proxy_field *found = NULL;
    uint8_t dec[CRED_DECODED_MAX + 1];
    char b64[CRED_B64_MAX + 1];
    size_t dec_len = 0;
    int ok = 0;

    if (!p->auth) {
        return PT_ERR_OK;
    }
    for (size_t i = 0; i < p->nfields; i++) {
        if (cbs_ieq(&p->fields[i].name, "proxy-authorization")) {
            if (found) {
                return reject(p, 407, "more than one Proxy-Authorization field");
            }
            found = &p->fields[i];
        }
    }
    if (!found) {
        return reject(p, 407, "proxy credentials required");
    }
    pt_cbs v = found->value, scheme;
    if (!cbs_get_until(&v, ' ', &scheme) || !cbs_ieq(&scheme, "basic")) {
        return reject(p, 407, "only Basic proxy credentials are accepted");
    }
    cbs_trim_ows(&v);
    if (!cbs_to_cstr(&v, b64, sizeof(b64)) ||
        sodium_base642bin(dec, sizeof(dec), b64, pt_cbs_len(&v), NULL, &dec_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0) {
        sodium_memzero(b64, sizeof(b64));
        return reject(p, 407, "bad Basic credentials encoding");
    }
    /* RFC 7617 §2: the user-id cannot contain ':', the password can. */
    pt_cbs cred, user;
    pt_cbs_init(&cred, dec, dec_len);
    if (cbs_get_until(&cred, ':', &user)) {
        ok = pt_proxy_cred_check(p->auth, pt_cbs_data(&user), pt_cbs_len(&user), pt_cbs_data(&cred),
                                 pt_cbs_len(&cred));
    }
    sodium_memzero(dec, sizeof(dec));
    sodium_memzero(b64, sizeof(b64));
    if (!ok) {
        return reject(p, 407, "bad proxy credentials");
    }
    return PT_ERR_OK;
}

static int parse_head(pt_http_proxy *p)
{
    int rc = parse_request_line(p);
    if (rc == PT_ERR_OK) {
        rc = parse_fields(p);
    }
    if (rc == PT_ERR_OK) {
        rc = check_auth(p);
    }
    if (rc != PT_ERR_OK) {
        return rc;
    }
    set_state(p, PT_HTTP_PROXY_DONE);
    return PT_ERR_OK;
}

int pt_http_proxy_consume(pt_http_proxy *p, size_t *consumed, const uint8_t *in, size_t in_len)
{
    pt_cbs inc;
    uint8_t b;
    int rc = SCAN_MORE;

    *consumed = 0;
    if (p->state != PT_HTTP_PROXY_HEAD) {
        return PT_ERR_STATE;
    }
    pt_cbs_init(&inc, in, in_len);
    while (rc == SCAN_MORE && pt_cbs_get_u8(&inc, &b)) {
        size_t i = p->len;
        /* The limits, checked before the byte is stored: the request line
         * ends by LINE_MAX and the header section within HEADERS_MAX after
         * it, so the buffer never holds more than PT_HTTP_PROXY_HEAD_MAX. */
        if (!p->reqline_done && i >= PT_HTTP_PROXY_LINE_MAX) {
            rc = reject(p, 414, "request line longer than 8 KiB");
            break;
        }
        if (p->reqline_done && i - p->head_start >= PT_HTTP_PROXY_HEADERS_MAX) {
            rc = reject(p, 431, "header section longer than 64 KiB");
            break;
        }
        assert(i < p->cap);
        p->buf[p->len++] = b;
        rc = scan_byte(p, i, b);
    }
    *consumed = in_len - pt_cbs_len(&inc);
    if (rc == SCAN_MORE) {
        return PT_ERR_AGAIN;
    }
    if (rc == SCAN_DONE) {
        return parse_head(p);
    }
    return rc;
}

pt_http_proxy_kind pt_http_proxy_kind_of(const pt_http_proxy *p)
{
    return p->state == PT_HTTP_PROXY_DONE ? p->kind : PT_HTTP_PROXY_NONE;
}

const pt_addr *pt_http_proxy_target(const pt_http_proxy *p)
{
    return p->state == PT_HTTP_PROXY_DONE ? &p->target : NULL;
}

unsigned pt_http_proxy_status(const pt_http_proxy *p)
{
    return p->state == PT_HTTP_PROXY_FAILED ? p->status : 0;
}

const char *pt_http_proxy_fail_reason(const pt_http_proxy *p)
{
    return p->state == PT_HTTP_PROXY_FAILED ? p->fail_reason : NULL;
}

/* ---- output ---------------------------------------------------------------- */

static void add_str(pt_cbb *b, const char *s)
{
    pt_cbb_add_bytes(b, (const uint8_t *)s, strlen(s));
}

static void add_cbs(pt_cbb *b, const pt_cbs *c)
{
    if (pt_cbs_len(c)) {
        pt_cbb_add_bytes(b, pt_cbs_data(c), pt_cbs_len(c));
    }
}

static void add_dec(pt_cbb *b, unsigned v)
{
    uint8_t d[10];
    size_t n = 0;
    do {
        d[n++] = (uint8_t)('0' + v % 10);
        v /= 10;
    } while (v && n < sizeof(d));
    while (n) {
        pt_cbb_add_u8(b, d[--n]);
    }
}

int pt_http_proxy_forward_head(const pt_http_proxy *p, uint8_t *out, size_t cap, size_t *out_len)
{
    pt_cbb b;

    *out_len = 0;
    if (p->state != PT_HTTP_PROXY_DONE || p->kind != PT_HTTP_PROXY_FORWARD) {
        return PT_ERR_STATE;
    }
    pt_cbb_init(&b, out, cap);
    /* RFC 9112 §3.2.1: origin-form to the origin. */
    add_cbs(&b, &p->method);
    pt_cbb_add_u8(&b, ' ');
    if (p->path_needs_slash) {
        pt_cbb_add_u8(&b, '/');
    }
    add_cbs(&b, &p->path);
    pt_cbb_add_u8(&b, ' ');
    add_cbs(&b, &p->version);
    add_str(&b, "\r\n");
    /* RFC 9112 §3.2.2: Host from the target URI, first (RFC 9110 §7.2). */
    add_str(&b, "Host: ");
    add_cbs(&b, &p->host);
    if (p->port_explicit) {
        pt_cbb_add_u8(&b, ':');
        add_dec(&b, p->target.port);
    }
    add_str(&b, "\r\n");
    for (size_t i = 0; i < p->nfields; i++) {
        if (!p->fields[i].drop) {
            add_cbs(&b, &p->fields[i].line);
            add_str(&b, "\r\n");
        }
    }
    if (p->websocket) {
        add_str(&b, "Upgrade: websocket\r\nConnection: Upgrade\r\n");
    } else {
        /* One request per stream: see pt_http_proxy.h. */
        add_str(&b, "Connection: close\r\n");
    }
    add_str(&b, "\r\n");
    if (!pt_cbb_ok(&b)) {
        return PT_ERR_NOBUFS;
    }
    *out_len = b.len;
    return PT_ERR_OK;
}

int pt_http_proxy_established_encode(uint8_t *out, size_t cap, size_t *out_len)
{
    pt_cbb b;
    *out_len = 0;
    pt_cbb_init(&b, out, cap);
    add_str(&b, "HTTP/1.1 200 Connection established\r\n\r\n");
    if (!pt_cbb_ok(&b)) {
        return PT_ERR_NOBUFS;
    }
    *out_len = b.len;
    return PT_ERR_OK;
}

static const char *status_reason(unsigned status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 407:
        return "Proxy Authentication Required";
    case 414:
        return "URI Too Long";
    case 431:
        return "Request Header Fields Too Large";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return NULL;
    }
}

int pt_http_proxy_response_encode(uint8_t *out, size_t cap, size_t *out_len, unsigned status,
                                  const char *detail)
{
    static const char kPrefix[] = "phantom: ";
    const char *reason = status_reason(status);
    char text[DETAIL_MAX];
    size_t n = 0;
    pt_cbb b;

    *out_len = 0;
    if (!reason) {
        return PT_ERR_INVAL;
    }
    if (!detail) {
        detail = reason;
    }
    /* The body is ours, but keep it one printable line whatever it is. */
    for (; n < sizeof(text) && detail[n]; n++) {
        uint8_t c = (uint8_t)detail[n];
        text[n] = (c >= 0x20 && c <= 0x7e) ? (char)c : '?';
    }

    pt_cbb_init(&b, out, cap);
    add_str(&b, "HTTP/1.1 ");
    add_dec(&b, status);
    pt_cbb_add_u8(&b, ' ');
    add_str(&b, reason);
    add_str(&b, "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ");
    add_dec(&b, (unsigned)(sizeof(kPrefix) - 1 + n + 1));
    add_str(&b, "\r\nConnection: close\r\n");
    if (status == 407) {
        /* RFC 7617 §2: browsers prompt, curl --proxy-user retries. */
        add_str(&b, "Proxy-Authenticate: Basic realm=\"" PT_HTTP_PROXY_REALM
                    "\", charset=\"UTF-8\"\r\n");
    }
    add_str(&b, "\r\n");
    add_str(&b, kPrefix);
    pt_cbb_add_bytes(&b, (const uint8_t *)text, n);
    pt_cbb_add_u8(&b, '\n');
    if (!pt_cbb_ok(&b)) {
        return PT_ERR_NOBUFS;
    }
    *out_len = b.len;
    return PT_ERR_OK;
}

unsigned pt_http_proxy_status_from_wire(uint32_t wire_code)
{
    switch (wire_code) {
    case PT_WIRE_CONNECT_TIMEOUT:
        return 504;
    case PT_WIRE_NOT_ALLOWED:
        return 403;
    case PT_WIRE_REFUSED_STREAM:
    case PT_WIRE_ENHANCE_YOUR_CALM:
        return 503;
    default: /* refused, unreachable, not resolved, connect error, internal */
        return 502;
    }
}

int pt_http_proxy_error_encode(uint8_t *out, size_t cap, size_t *out_len, uint32_t wire_code,
                               const pt_addr *target)
{
    char where[PT_ADDR_DOMAIN_MAX + 16];
    char detail[DETAIL_MAX];
    const char *what;

    switch (wire_code) {
    case PT_WIRE_CONNECTION_REFUSED:
        what = "connection refused by";
        break;
    case PT_WIRE_HOST_UNREACHABLE:
        what = "host unreachable:";
        break;
    case PT_WIRE_NETWORK_UNREACHABLE:
        what = "network unreachable:";
        break;
    case PT_WIRE_CONNECT_TIMEOUT:
        what = "timed out connecting to";
        break;
    case PT_WIRE_NOT_ALLOWED:
        what = "the tunnel server does not allow connecting to";
        break;
    case PT_WIRE_NAME_NOT_RESOLVED:
        what = "could not resolve";
        break;
    case PT_WIRE_ADDRESS_NOT_SUPPORTED:
        what = "address type not supported:";
        break;
    case PT_WIRE_REFUSED_STREAM:
    case PT_WIRE_ENHANCE_YOUR_CALM:
        what = "tunnel busy, try again:";
        break;
    case PT_WIRE_CONNECT_ERROR:
        what = "could not connect to";
        break;
    default:
        what = "tunnel error while connecting to";
        break;
    }
    if (target) {
        pt_addr_format(target, where, sizeof(where));
    } else {
        snprintf(where, sizeof(where), "the target");
    }
    snprintf(detail, sizeof(detail), "%s %s (%s)", what, where, pt_wire_err_name(wire_code));
    return pt_http_proxy_response_encode(out, cap, out_len,
                                         pt_http_proxy_status_from_wire(wire_code), detail);
}
