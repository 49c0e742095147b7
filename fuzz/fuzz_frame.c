/* fuzz_frame.c — libFuzzer target for the frame decoder (pt_frame_open) and
 * the payload helpers behind it.
 *
 * Input layout (all modes):
 *   mode(1) nchunk(1) chunk[nchunk] ...
 * mode bit 0 picks what follows; bit 1 the opener's AEAD backend, bit 2 the
 * sealer's (0 BoringSSL, 1 libsodium):
 *   0: raw     — the rest is received wire bytes, fed to pt_frame_open in
 *                chunks. Reaches the length prefix, AGAIN and tag checks.
 *   1: sealed  — flip_pos(2) flip_mask(1), then tuples
 *                type(1) stream_id(3) payload_len(2) pad_len(1) payload...
 *                (payload bytes the input lacks are zeros). Each tuple is
 *                sealed with pt_frame_seal_raw (errors skipped), one byte of
 *                the result is optionally flipped, and the wire is fed to
 *                pt_frame_open in chunks. Only this mode gets past the AEAD
 *                to the header, type and length rules.
 * chunk[i] gives the i-th feed size, 1 + c*c bytes (cycled; no chunks:
 * everything at once).
 *
 * Oracles (abort on violation): every buffer pt_frame_open sees is an
 * exact-size heap copy (ASan catches reads past |len|); AGAIN only while
 * fewer bytes than the head frame are present, and |consumed| then says
 * how many; an unmodified frame opens iff the PROTOCOL.md §6.3 rules
 * (written out again below) allow it, with the header it was sealed with; a modified frame
 * never opens; a STREAM_OPEN address that decodes re-encodes to the same
 * bytes.
 *
 * Under PT_FUZZING_BUILD the CSPRNG is replaced by a generator reset for
 * every input, so a crash reproduces; the target passes explicit padding
 * and never needs random bytes anyway.
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
#include "pt_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define MAX_FRAMES 16
#define MAX_WIRE (4 * PT_FRAME_MAX_WIRE)
#define MAX_CALLS 4096 /* keeps tiny chunks over huge frames fast */

/* Both sides of the session derive from this one key. */
static const uint8_t KEY[32] = {0x70, 0x68, 0x61, 0x6e, 0x74, 0x6f, 0x6d, 0x2d, 0x74, 0x75, 0x6e,
                                0x6e, 0x65, 0x6c, 0x2d, 0x66, 0x75, 0x7a, 0x7a, 0x2d, 0x6b, 0x65,
                                0x79, 0x2d, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    pt_fuzz_init();
    return 0;
}

/* ---- input reader ------------------------------------------------------- */

typedef struct chunker {
    const uint8_t *spec;
    size_t n, i;
} chunker;

static size_t next_chunk(chunker *c, size_t left, size_t frame_hint)
{
    if (c->n == 0) {
        return left;
    }
    size_t v = c->spec[c->i++ % c->n];
    size_t sz = 1 + v * v;
    /* Bound the number of exact-size copies per frame. */
    size_t floor_sz = frame_hint / 64;
    if (sz < floor_sz) {
        sz = floor_sz;
    }
    return sz < left ? sz : left;
}

/* ---- PROTOCOL.md §6.3, written out independently of pt_frame.c ------- */

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int rules_allow(uint8_t type, uint32_t sid, const uint8_t *pl, size_t plen)
{
    if (plen > PT_FRAME_MAX_PAYLOAD) {
        return 0;
    }
    switch (type) {
    case PT_FRAME_DATA:
    case PT_FRAME_STREAM_OPEN:
        return sid != 0;
    case PT_FRAME_STREAM_CLOSE:
        return sid != 0 && (plen == 0 || plen == 4);
    case PT_FRAME_WINDOW_UPDATE: /* increment 1..2^31-1 */
        return plen == 4 && be32(pl) != 0 && be32(pl) <= 0x7fffffffu;
    case PT_FRAME_PING:
    case PT_FRAME_PONG:
        return sid == 0 && plen == 8;
    case PT_FRAME_GOAWAY:
        return sid == 0 && plen == 8 && be32(pl) <= PT_STREAM_ID_MAX;
    case PT_FRAME_PADDING:
        return sid == 0;
    case PT_FRAME_KEY_UPDATE:
        return sid == 0 && plen == 0;
    default:
        return 0;
    }
}

/* Runs the payload helpers on a frame pt_frame_open accepted. */
static void use_payload(const pt_frame_hdr *h, const uint8_t *pl)
{
    switch (h->type) {
    case PT_FRAME_STREAM_CLOSE: {
        uint32_t code = pt_frame_close_code(pl, h->payload_len);
        CHECK(h->payload_len == 4 ? code == be32(pl) : code == PT_WIRE_NO_ERROR);
        (void)pt_wire_err_name(code);
        break;
    }
    case PT_FRAME_WINDOW_UPDATE:
        CHECK(h->payload_len == 4);
        CHECK(pt_frame_window_increment(pl) != 0);
        CHECK(pt_frame_window_increment(pl) <= 0x7fffffffu);
        break;
    case PT_FRAME_GOAWAY: {
        uint32_t last, code;
        CHECK(h->payload_len == 8);
        pt_frame_goaway_fields(pl, &last, &code);
        CHECK(last <= PT_STREAM_ID_MAX);
        (void)pt_wire_err_name(code);
        break;
    }
    case PT_FRAME_PING:
    case PT_FRAME_PONG:
        CHECK(h->payload_len == 8 && h->stream_id == 0);
        break;
    case PT_FRAME_KEY_UPDATE:
        CHECK(h->payload_len == 0 && h->stream_id == 0);
        break;
    case PT_FRAME_STREAM_OPEN: {
        /* The address gets its own exact-size copy. */
        uint8_t *copy = malloc(h->payload_len ? h->payload_len : 1);
        CHECK(copy != NULL);
        if (h->payload_len) {
            memcpy(copy, pl, h->payload_len);
        }
        pt_cbs c;
        pt_addr a;
        pt_cbs_init(&c, copy, h->payload_len);
        int rc = pt_addr_decode(&a, &c);
        CHECK(rc == PT_ERR_OK || rc == PT_ERR_PROTO || rc == PT_ERR_NOTFOUND);
        if (rc == PT_ERR_OK) {
            uint8_t enc[PT_ADDR_MAX_ENCODED];
            char text[PT_ADDR_DOMAIN_MAX + 16];
            pt_cbb b;
            pt_cbb_init(&b, enc, sizeof(enc));
            CHECK(pt_addr_encode(&b, &a) == PT_ERR_OK);
            CHECK(b.len == h->payload_len && memcmp(enc, copy, b.len) == 0);
            pt_addr_format(&a, text, sizeof(text));
            CHECK(memchr(text, 0, sizeof(text)) != NULL);
        }
        free(copy);
        break;
    }
    default:
        CHECK(h->type == PT_FRAME_DATA || h->type == PT_FRAME_PADDING);
        CHECK(h->type == PT_FRAME_PADDING ? h->stream_id == 0 : h->stream_id != 0);
        break;
    }
    CHECK(h->stream_id <= PT_STREAM_ID_MAX);
    (void)pt_frame_type_name(h->type);
}

/* ---- the receiver --------------------------------------------------- */

typedef struct sealed {
    size_t off, len;      /* where the frame sits in the wire */
    const uint8_t *plain; /* its payload as sealed */
    pt_frame_hdr hdr;
    int valid; /* the rules allow it */
} sealed;

/* Feeds |wire| to a fresh opener. |frames| (may be NULL: raw mode) says what
 * was sealed; |flip_at| is the modified byte's offset or SIZE_MAX. */
static void receive(pt_aead_backend backend, const uint8_t *wire, size_t wire_len,
                    const sealed *frames, size_t n_frames, size_t flip_at, chunker *ch)
{
    pt_frame_opener o;
    CHECK(pt_frame_opener_init(&o, backend, KEY) == PT_ERR_OK);
    size_t head = 0;  /* wire offset of the head frame */
    size_t avail = 0; /* bytes of it received */
    size_t k = 0;     /* index of the head frame in |frames| */
    size_t calls = 0;

    while (head + avail < wire_len && calls < MAX_CALLS) {
        size_t hint = (frames && k < n_frames) ? frames[k].len : 0;
        avail += next_chunk(ch, wire_len - head - avail, hint);
        for (;;) {
            calls++;
            uint8_t *blk = malloc(avail ? avail : 1);
            CHECK(blk != NULL);
            uint8_t *buf = avail ? blk : blk + 1;
            if (avail) {
                memcpy(buf, wire + head, avail);
            }
            size_t consumed = 0;
            pt_frame_hdr h;
            uint8_t *pl = NULL;
            int rc = pt_frame_open(&o, buf, avail, &consumed, &h, &pl);

            if (rc == PT_ERR_AGAIN) {
                CHECK(consumed > avail);
                CHECK(consumed <= PT_FRAME_MAX_WIRE);
                CHECK(avail >= PT_FRAME_PREFIX_LEN || consumed == PT_FRAME_PREFIX_LEN);
                if (frames && k < n_frames && avail >= PT_FRAME_PREFIX_LEN && flip_at == SIZE_MAX) {
                    CHECK(consumed == frames[k].len);
                }
                free(blk);
                break;
            }
            if (rc != PT_ERR_OK) {
                CHECK(pt_err_is_fatal(rc));
                if (frames && flip_at == SIZE_MAX && k < n_frames) {
                    /* An untouched frame fails only on the rules. */
                    CHECK(rc == PT_ERR_PROTO && !frames[k].valid);
                }
                free(blk);
                goto out; /* every error ends the session */
            }

            /* OK */
            CHECK(consumed >= PT_FRAME_OVERHEAD && consumed <= avail);
            CHECK(consumed == PT_FRAME_OVERHEAD + (size_t)h.payload_len + h.pad_len);
            CHECK(pl == buf + PT_FRAME_PAYLOAD_OFFSET);
            CHECK(h.payload_len <= PT_FRAME_MAX_PAYLOAD);
            use_payload(&h, pl);
            if (frames) {
                CHECK(k < n_frames);
                const sealed *f = &frames[k];
                CHECK(f->valid);
                CHECK(f->off == head && f->len == consumed);
                CHECK(flip_at == SIZE_MAX || flip_at >= head + consumed);
                CHECK(h.type == f->hdr.type && h.stream_id == f->hdr.stream_id &&
                      h.payload_len == f->hdr.payload_len && h.pad_len == f->hdr.pad_len);
                CHECK(memcmp(pl, f->plain, h.payload_len) == 0);
            }
            free(blk);
            k++;
            head += consumed;
            avail -= consumed;
            if (head + avail >= wire_len && avail == 0) {
                break;
            }
        }
    }
    if (frames && flip_at == SIZE_MAX && calls < MAX_CALLS) {
        /* Everything was delivered and nothing failed: all frames opened. */
        CHECK(k == n_frames);
    }
out:
    pt_frame_opener_cleanup(&o);
}

/* ---- modes -------------------------------------------------------------- */

static void run_sealed(pt_aead_backend seal_backend, pt_aead_backend open_backend, const uint8_t *p,
                       size_t n, chunker *ch)
{
    if (n < 3) {
        return;
    }
    size_t flip_pos = (size_t)p[0] << 8 | p[1];
    uint8_t flip_mask = p[2];
    p += 3;
    n -= 3;

    /* Static: a fresh 256 KiB per input costs more than the work itself.
     * The opener never sees these; it gets exact-size copies. */
    static uint8_t wire[MAX_WIRE];
    static uint8_t plain[MAX_WIRE]; /* the payloads, for comparison */
    static uint8_t payload[65536];  /* any u16 payload_len */
    static uint8_t pad[PT_FRAME_MAX_PAD];
    for (size_t i = 0; i < sizeof(pad); i++) {
        pad[i] = (uint8_t)(i * 13 + 5);
    }
    sealed frames[MAX_FRAMES];
    size_t n_frames = 0, wire_len = 0, plain_len = 0;
    pt_frame_dir s;
    CHECK(pt_frame_dir_init(&s, seal_backend, KEY) == PT_ERR_OK);

    while (n >= 7 && n_frames < MAX_FRAMES) {
        uint8_t type = p[0];
        uint32_t sid = (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        size_t plen = (size_t)p[4] << 8 | p[5];
        size_t pad_len = p[6];
        p += 7;
        n -= 7;
        size_t take = plen < n ? plen : n;
        memset(payload, 0, plen);
        if (take) {
            memcpy(payload, p, take);
        }
        p += take;
        n -= take;
        size_t wl = 0;
        int rc = pt_frame_seal_raw(&s, wire + wire_len, MAX_WIRE - wire_len, &wl, type, sid,
                                   payload, plen, pad, pad_len);
        if (rc != PT_ERR_OK) {
            /* Refused frames use no nonce; the allowed refusals only. */
            CHECK(rc == PT_ERR_INVAL || rc == PT_ERR_FRAME_SIZE || rc == PT_ERR_NOBUFS);
            continue;
        }
        CHECK(wl == PT_FRAME_OVERHEAD + plen + pad_len);
        sealed *f = &frames[n_frames++];
        f->off = wire_len;
        f->len = wl;
        memcpy(plain + plain_len, payload, plen); /* fits: plen < wl */
        f->plain = plain + plain_len;
        plain_len += plen;
        f->hdr.type = type;
        f->hdr.stream_id = sid;
        f->hdr.payload_len = (uint16_t)plen;
        f->hdr.pad_len = (uint8_t)pad_len;
        f->valid = rules_allow(type, sid, payload, plen);
        wire_len += wl;
    }
    pt_frame_dir_cleanup(&s);

    size_t flip_at = SIZE_MAX;
    if (flip_mask && wire_len) {
        flip_at = flip_pos % wire_len;
        wire[flip_at] ^= flip_mask;
    }
    if (wire_len) {
        receive(open_backend, wire, wire_len, frames, n_frames, flip_at, ch);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pt_fuzz_rng_reset();
    if (size < 2) {
        return 0;
    }
    uint8_t mode = data[0];
    size_t nchunk = data[1];
    if (size < 2 + nchunk) {
        return 0;
    }
    chunker ch = {data + 2, nchunk, 0};
    const uint8_t *rest = data + 2 + nchunk;
    size_t rest_len = size - 2 - nchunk;
    pt_aead_backend opener = (mode & 2) ? PT_AEAD_SODIUM : PT_AEAD_BORINGSSL;
    pt_aead_backend sealer = (mode & 4) ? PT_AEAD_SODIUM : PT_AEAD_BORINGSSL;

    if (mode & 1) {
        run_sealed(sealer, opener, rest, rest_len, &ch);
    } else if (rest_len) {
        receive(opener, rest, rest_len, NULL, 0, SIZE_MAX, &ch);
    }
    return 0;
}
