/* fuzz_http_proxy.c — libFuzzer target for the HTTP proxy request parser
 * (pt_http_proxy_consume, the forwarded head and the response builders).
 *
 * Input layout:
 *   mode(1) nchunk(1) chunk[nchunk] request bytes...
 * mode bit 0: credentials configured (user "user", password "pa:ss",
 * "Proxy-Authorization: Basic dXNlcjpwYTpzcw=="); bits 1-7: a PT_WIRE_*
 * code for the error response built after a valid request. chunk[i] gives
 * the i-th feed size, 1 + c*c bytes (cycled; no chunks: everything at once).
 *
 * Oracles (abort on violation): every buffer the parser sees is an
 * exact-size heap copy and the head buffer is exactly
 * PT_HTTP_PROXY_HEAD_MAX bytes (ASan catches reads and writes past them);
 * feeding in chunks and all at once give the same result, count consumed,
 * target and forwarded head; AGAIN only with everything taken and the head
 * under its limit; a failure carries a status the header lists and its
 * response builds; a target re-encodes and decodes to itself; a forwarded
 * head is well formed: CRLF lines without control bytes, origin-form
 * request line, Host first, no Proxy-* or Connection field but ours, and
 * it ends in our Connection line and a blank line.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "pt_addr.h"
#include "pt_cbs.h"
#include "pt_err.h"
#include "pt_frame.h"
#include "pt_http_proxy.h"
#include "pt_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static const pt_proxy_cred kCred = {
    .user = (const uint8_t *)"user",
    .user_len = 4,
    .pass = (const uint8_t *)"pa:ss",
    .pass_len = 5,
};

static uint8_t *head1, *head2;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    pt_fuzz_init();
    head1 = malloc(PT_HTTP_PROXY_HEAD_MAX);
    head2 = malloc(PT_HTTP_PROXY_HEAD_MAX);
    CHECK(head1 && head2);
    return 0;
}

typedef struct outcome {
    int rc;
    size_t consumed;
    pt_http_proxy_kind kind;
    unsigned status;
    pt_addr target;
    size_t fwd_len;
    uint8_t fwd[PT_HTTP_PROXY_FORWARD_MAX];
} outcome;

static void run(pt_http_proxy *p, uint8_t *head, const pt_proxy_cred *auth, const uint8_t *in,
                size_t n, const uint8_t *spec, size_t nspec, outcome *o)
{
    o->rc = PT_ERR_AGAIN;
    o->consumed = 0;
    o->fwd_len = 0;
    memset(&o->target, 0, sizeof(o->target));
    CHECK(pt_http_proxy_init(p, auth, head, PT_HTTP_PROXY_HEAD_MAX) == PT_ERR_OK);
    size_t pos = 0, k = 0;
    do {
        size_t len = n - pos;
        if (spec && nspec) {
            size_t c = spec[k++ % nspec];
            size_t want = 1 + c * c;
            len = want < len ? want : len;
        }
        uint8_t *chunk = malloc(len ? len : 1);
        CHECK(chunk != NULL);
        if (len) {
            memcpy(chunk, in + pos, len);
        }
        size_t used = 0;
        o->rc = pt_http_proxy_consume(p, &used, chunk, len);
        free(chunk);
        CHECK(o->rc == PT_ERR_AGAIN || o->rc == PT_ERR_OK || o->rc == PT_ERR_PROTO);
        CHECK(used <= len);
        if (o->rc == PT_ERR_AGAIN) {
            CHECK(used == len);
            CHECK(p->len < PT_HTTP_PROXY_HEAD_MAX);
        }
        o->consumed += used;
        pos += len;
    } while (o->rc == PT_ERR_AGAIN && pos < n);
    o->kind = pt_http_proxy_kind_of(p);
    o->status = pt_http_proxy_status(p);
    if (pt_http_proxy_target(p)) {
        o->target = *pt_http_proxy_target(p);
    }
    if (o->kind == PT_HTTP_PROXY_FORWARD) {
        CHECK(pt_http_proxy_forward_head(p, o->fwd, sizeof(o->fwd), &o->fwd_len) == PT_ERR_OK);
    }
}

static int ieq_prefix(const uint8_t *p, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    if (n < l) {
        return 0;
    }
    for (size_t i = 0; i < l; i++) {
        uint8_t a = p[i], b = (uint8_t)lit[i];
        if (a >= 'A' && a <= 'Z') {
            a = (uint8_t)(a + 32);
        }
        if (a != b) {
            return 0;
        }
    }
    return 1;
}

/* The forwarded head is a clean origin-form request. */
static void check_forward(const outcome *o)
{
    const uint8_t *h = o->fwd;
    size_t n = o->fwd_len;
    CHECK(n >= 4 && memcmp(h + n - 4, "\r\n\r\n", 4) == 0);
    size_t line = 0, nlines = 0;
    int ours = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t b = h[i];
        if (b == '\r') {
            CHECK(i + 1 < n && h[i + 1] == '\n');
            const uint8_t *l = h + line;
            size_t ll = i - line;
            if (nlines == 0) {
                /* METHOD SP "/"... SP HTTP/1.x */
                const uint8_t *sp = memchr(l, ' ', ll);
                CHECK(sp != NULL && sp + 1 < l + ll && sp[1] == '/');
                CHECK(ll >= 9 && memcmp(l + ll - 9, " HTTP/1.", 8) == 0);
            } else if (nlines == 1) {
                CHECK(ieq_prefix(l, ll, "host: ") && ll > 6);
            } else if (ll > 0) {
                CHECK(!ieq_prefix(l, ll, "proxy-"));
                CHECK(!ieq_prefix(l, ll, "host:"));
                CHECK(!ieq_prefix(l, ll, "keep-alive:"));
                CHECK(!ieq_prefix(l, ll, "te:"));
                if (ieq_prefix(l, ll, "connection:")) {
                    CHECK(!ours);
                    ours = 1;
                    CHECK((ll == 17 && memcmp(l, "Connection: close", 17) == 0) ||
                          (ll == 19 && memcmp(l, "Connection: Upgrade", 19) == 0));
                }
                if (ieq_prefix(l, ll, "upgrade:")) {
                    CHECK(ll == 18 && memcmp(l, "Upgrade: websocket", 18) == 0);
                }
            }
            nlines++;
            line = i + 2;
            i++;
            continue;
        }
        CHECK(b != '\n');
        CHECK(b >= 0x20 || b == '\t');
        CHECK(b != 0x7f);
    }
    CHECK(ours);
    CHECK(nlines >= 4);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    uint8_t mode = data[0];
    size_t nchunk = data[1];
    if (size < 2 + nchunk) {
        return 0;
    }
    const uint8_t *spec = data + 2;
    const uint8_t *in = data + 2 + nchunk;
    size_t n = size - 2 - nchunk;
    const pt_proxy_cred *auth = (mode & 1) ? &kCred : NULL;

    static outcome whole, parts;
    static pt_http_proxy p1, p2;
    run(&p1, head1, auth, in, n, NULL, 0, &whole);
    run(&p2, head2, auth, in, n, spec, nchunk, &parts);

    CHECK(whole.rc == parts.rc);
    CHECK(whole.consumed == parts.consumed);
    CHECK(whole.kind == parts.kind);
    CHECK(whole.status == parts.status);
    CHECK(memcmp(&whole.target, &parts.target, sizeof(whole.target)) == 0);
    CHECK(whole.fwd_len == parts.fwd_len);
    CHECK(memcmp(whole.fwd, parts.fwd, whole.fwd_len) == 0);

    uint8_t resp[PT_HTTP_PROXY_RESPONSE_MAX];
    size_t rl = 0;
    if (whole.rc == PT_ERR_AGAIN) {
        CHECK(whole.consumed == n);
        CHECK(whole.kind == PT_HTTP_PROXY_NONE && whole.status == 0);
    } else if (whole.rc == PT_ERR_PROTO) {
        unsigned st = whole.status;
        CHECK(st == 400 || st == 407 || st == 414 || st == 431 || st == 505);
        CHECK(whole.kind == PT_HTTP_PROXY_NONE);
        CHECK(pt_http_proxy_response_encode(resp, sizeof(resp), &rl, st,
                                            pt_http_proxy_fail_reason(&p1)) == PT_ERR_OK);
        CHECK(rl <= sizeof(resp));
    } else {
        CHECK(whole.kind == PT_HTTP_PROXY_CONNECT || whole.kind == PT_HTTP_PROXY_FORWARD);
        CHECK(whole.consumed <= n && whole.consumed <= PT_HTTP_PROXY_HEAD_MAX);
        /* The head ends with its blank line. */
        CHECK(whole.consumed >= 2 && in[whole.consumed - 1] == '\n');
        /* The target round-trips through the STREAM_OPEN encoding. */
        uint8_t enc[PT_ADDR_MAX_ENCODED];
        pt_cbb b;
        pt_cbb_init(&b, enc, sizeof(enc));
        CHECK(pt_addr_encode(&b, &whole.target) == PT_ERR_OK);
        pt_addr back;
        pt_cbs c;
        pt_cbs_init(&c, enc, b.len);
        CHECK(pt_addr_decode(&back, &c) == PT_ERR_OK);
        CHECK(memcmp(&back, &whole.target, sizeof(back)) == 0);
        CHECK(whole.target.port != 0);
        if (whole.kind == PT_HTTP_PROXY_FORWARD) {
            CHECK(whole.fwd_len <= PT_HTTP_PROXY_FORWARD_MAX);
            check_forward(&whole);
        }
        CHECK(pt_http_proxy_established_encode(resp, sizeof(resp), &rl) == PT_ERR_OK);
        uint32_t code = mode >> 1;
        CHECK(pt_http_proxy_error_encode(resp, sizeof(resp), &rl, code, &whole.target) ==
              PT_ERR_OK);
        CHECK(rl <= sizeof(resp));
    }
    pt_http_proxy_cleanup(&p1);
    pt_http_proxy_cleanup(&p2);
    return 0;
}
