/* fuzz_socks5.c — libFuzzer target for the SOCKS5 server machine
 * (pt_socks5_consume and the reply builders).
 *
 * Input layout:
 *   mode(1) nchunk(1) chunk[nchunk] conversation...
 * mode bit 0: credentials configured (user "user", password "pass");
 * bits 1-7: the PT_WIRE_* code the stream fails with after a CONNECT (0x7f:
 * it succeeds, bound to the target itself). chunk[i] gives the i-th feed
 * size, 1 + c % 64 bytes (cycled; no chunks: everything at once).
 *
 * Oracles (abort on violation): every buffer the machine sees is an
 * exact-size heap copy (ASan catches reads past it); feeding in chunks and
 * all at once give the same result, the same bytes to send and the same
 * count consumed; AGAIN only with everything taken and less than a message
 * held; nothing to send beyond PT_SOCKS5_OUT_MAX; on OK the last bytes
 * consumed are exactly the target's encoding and the method answer comes
 * first; on PROTO the answer is one the header lists; the final reply
 * carries the mapped code or the target as BND.
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
#include "pt_socks5.h"
#include "pt_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static const pt_proxy_cred kCred = {
    .user = (const uint8_t *)"user",
    .user_len = 4,
    .pass = (const uint8_t *)"pass",
    .pass_len = 4,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    pt_fuzz_init();
    return 0;
}

typedef struct outcome {
    int rc;
    size_t consumed;
    uint8_t out[8 * PT_SOCKS5_OUT_MAX];
    size_t out_len;
    pt_socks5_state state;
    pt_addr target;
} outcome;

/* Feeds |in| in chunks from |spec| (NULL: at once); leaves |s| as it ends. */
static void run(pt_socks5 *s, const pt_proxy_cred *auth, const uint8_t *in, size_t n,
                const uint8_t *spec, size_t nspec, outcome *o)
{
    memset(o, 0, sizeof(*o));
    CHECK(pt_socks5_init(s, auth) == PT_ERR_OK);
    size_t pos = 0, k = 0;
    o->rc = PT_ERR_AGAIN;
    do {
        size_t len = n - pos;
        if (spec && nspec) {
            size_t want = 1 + spec[k++ % nspec] % 64;
            len = want < len ? want : len;
        }
        uint8_t *chunk = malloc(len ? len : 1);
        CHECK(chunk != NULL);
        if (len) {
            memcpy(chunk, in + pos, len);
        }
        uint8_t out[PT_SOCKS5_OUT_MAX];
        size_t out_len = 0, used = 0;
        o->rc = pt_socks5_consume(s, out, sizeof(out), &out_len, &used, chunk, len);
        free(chunk);
        CHECK(o->rc == PT_ERR_AGAIN || o->rc == PT_ERR_OK || o->rc == PT_ERR_PROTO);
        CHECK(used <= len);
        CHECK(out_len <= PT_SOCKS5_OUT_MAX);
        if (o->rc == PT_ERR_AGAIN) {
            CHECK(used == len);
            CHECK(s->buf_len < PT_SOCKS5_IN_MAX);
        }
        CHECK(o->out_len + out_len <= sizeof(o->out));
        memcpy(o->out + o->out_len, out, out_len);
        o->out_len += out_len;
        o->consumed += used;
        pos += len;
    } while (o->rc == PT_ERR_AGAIN && pos < n);
    o->state = s->state;
    if (pt_socks5_target(s)) {
        o->target = *pt_socks5_target(s);
    }
}

static int is_fail_reply(const uint8_t *p)
{
    static const uint8_t tail[8] = {0x00, 0x01, 0, 0, 0, 0, 0, 0};
    return p[0] == 0x05 && (p[1] == 0x01 || p[1] == 0x07 || p[1] == 0x08) &&
           memcmp(p + 2, tail, 8) == 0;
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
    pt_socks5 s1, s2;
    run(&s1, auth, in, n, NULL, 0, &whole);
    run(&s2, auth, in, n, spec, nchunk, &parts);

    /* Chunking never changes anything. */
    CHECK(whole.rc == parts.rc);
    CHECK(whole.consumed == parts.consumed);
    CHECK(whole.out_len == parts.out_len);
    CHECK(memcmp(whole.out, parts.out, whole.out_len) == 0);
    CHECK(whole.state == parts.state);
    CHECK(memcmp(&whole.target, &parts.target, sizeof(whole.target)) == 0);

    if (whole.rc == PT_ERR_AGAIN) {
        CHECK(whole.consumed == n);
    } else if (whole.rc == PT_ERR_OK) {
        /* Method selection, then (with credentials) auth success. */
        CHECK(whole.out_len == (auth ? 4u : 2u));
        CHECK(whole.out[0] == 5 && whole.out[1] == (auth ? 0x02 : 0x00));
        if (auth) {
            CHECK(whole.out[2] == 1 && whole.out[3] == 0);
        }
        /* The request ends with exactly the target's encoding. */
        uint8_t enc[PT_ADDR_MAX_ENCODED];
        pt_cbb b;
        pt_cbb_init(&b, enc, sizeof(enc));
        CHECK(pt_addr_encode(&b, &whole.target) == PT_ERR_OK);
        CHECK(b.len <= whole.consumed);
        CHECK(memcmp(in + whole.consumed - b.len, enc, b.len) == 0);
        CHECK(in[whole.consumed - b.len - 3] == 5 && in[whole.consumed - b.len - 2] == 1 &&
              in[whole.consumed - b.len - 1] == 0);

        /* The final reply. */
        uint8_t rep[PT_SOCKS5_REPLY_MAX];
        size_t rl = 0;
        uint32_t code = mode >> 1;
        if (code == 0x7f) {
            CHECK(pt_socks5_reply_success(&s1, rep, sizeof(rep), &rl, &whole.target) == PT_ERR_OK);
            CHECK(rl == 3 + b.len && rep[0] == 5 && rep[1] == 0 && rep[2] == 0);
            CHECK(memcmp(rep + 3, enc, b.len) == 0);
            CHECK(s1.state == PT_SOCKS5_ESTABLISHED);
        } else {
            CHECK(pt_socks5_reply_failure(&s1, rep, sizeof(rep), &rl, code) == PT_ERR_OK);
            CHECK(rl == 10 && rep[0] == 5 && rep[1] == pt_socks5_rep_from_wire(code));
            CHECK(rep[1] >= 0x01 && rep[1] <= 0x08 && rep[1] != 0x07);
            CHECK(s1.state == PT_SOCKS5_FAILED);
        }
        CHECK(pt_socks5_reply_failure(&s1, rep, sizeof(rep), &rl, 0) == PT_ERR_STATE);
    } else {
        CHECK(whole.state == PT_SOCKS5_FAILED);
        CHECK(pt_socks5_fail_reason(&s1) != NULL);
        CHECK(pt_socks5_target(&s1) == NULL);
        /* One of: nothing; 05 FF; [05 xx] [01 00] + failure reply;
         * [05 02] 01 01. */
        const uint8_t *o = whole.out;
        size_t l = whole.out_len;
        int ok_shape =
            l == 0 || (l == 2 && o[0] == 5 && o[1] == 0xff) ||
            (l == 4 && o[0] == 5 && o[1] == 2 && o[2] == 1 && o[3] == 1) ||
            (l == 12 && o[0] == 5 && o[1] == 0 && is_fail_reply(o + 2)) ||
            (l == 14 && o[0] == 5 && o[1] == 2 && o[2] == 1 && o[3] == 0 && is_fail_reply(o + 4));
        CHECK(ok_shape);
    }
    pt_socks5_cleanup(&s1);
    pt_socks5_cleanup(&s2);
    return 0;
}
