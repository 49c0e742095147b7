/* pt_frame.c — frame header, padding, length-prefix and AEAD (pt_frame.h). */
#include "pt_frame.h"

#include <sodium.h>
#include <string.h>

#include "pt_cbs.h"
#include "pt_err.h"
#include "pt_noise.h"

/* HKDF label for the frame keys (PROTOCOL.md §5.9). */
static const char FRAME_KEY_LABEL[] = "phantom-tunnel frame keys";

const char *pt_wire_err_name(uint32_t code)
{
    switch (code) {
#define PT_WIRE_ERR_NAME_(name, value)                                         \
    case value:                                                                \
        return #name;
        PT_WIRE_ERR_MAP(PT_WIRE_ERR_NAME_)
#undef PT_WIRE_ERR_NAME_
    default:
        return "UNKNOWN";
    }
}

const char *pt_frame_type_name(unsigned type)
{
    static const char *const names[] = {"DATA",  "STREAM_OPEN", "STREAM_CLOSE",
                                        "WINDOW_UPDATE", "PING", "PONG",
                                        "GOAWAY", "PADDING", "KEY_UPDATE"};
    return type <= PT_FRAME_TYPE_MAX ? names[type] : "UNKNOWN";
}

/* ---- padding ------------------------------------------------------------ */

void pt_pad_policy_default(pt_pad_policy *p)
{
    p->strategy = PT_PAD_RANDOM;
    p->block = 64;
    p->min_size = 64;
}

unsigned pt_frame_pad_len(const pt_pad_policy *p, size_t payload_len, uint8_t rnd)
{
    size_t f = PT_FRAME_HDR_LEN + payload_len; /* plaintext frame before padding */
    size_t pad = 0;

    switch (p->strategy) {
    case PT_PAD_NONE:
        return 0; /* NONE means no padding at all, not even to min_size */
    case PT_PAD_BLOCK: {
        size_t b = p->block ? p->block : 64;
        if (b > PT_FRAME_MAX_PAD + 1) {
            b = PT_FRAME_MAX_PAD + 1; /* a remainder must fit in 255 bytes */
        }
        pad = (b - f % b) % b;
        break;
    }
    case PT_PAD_RANDOM:
        pad = rnd;
        break;
    case PT_PAD_POWER_OF_TWO: {
        size_t target = 1;
        while (target < f) {
            target <<= 1;
        }
        pad = target - f;
        if (pad > PT_FRAME_MAX_PAD) {
            /* Beyond reach for large frames: the sender cuts DATA at
             * power-of-two sizes instead (PROTOCOL.md §9.1). */
            pad = 0;
        }
        break;
    }
    default:
        return 0;
    }
    if (f + pad < p->min_size) {
        pad = p->min_size - f;
    }
    return pad > PT_FRAME_MAX_PAD ? PT_FRAME_MAX_PAD : (unsigned)pad;
}

/* ---- keys --------------------------------------------------------------- */

static int dir_key_aead(pt_frame_dir *d, pt_aead_backend backend)
{
    pt_aead_cleanup(&d->aead);
    return pt_aead_init(&d->aead, backend, d->k_data);
}

int pt_frame_dir_init(pt_frame_dir *d, pt_aead_backend backend, const uint8_t k[32])
{
    memset(d, 0, sizeof(*d));
    if (sodium_init() < 0) {
        return PT_ERR_CRYPTO;
    }
    /* (K_data, K_len) = HKDF(ck = k, ikm = label), Noise's HKDF with SHA-256. */
    pt_noise_hkdf(PT_NOISE_HASH_SHA256, k, (const uint8_t *)FRAME_KEY_LABEL,
                  sizeof(FRAME_KEY_LABEL) - 1, d->k_data, d->k_len, NULL);
    d->n = 0;
    int rc = dir_key_aead(d, backend);
    if (rc != PT_ERR_OK) {
        pt_frame_dir_cleanup(d);
    }
    return rc;
}

/* Noise Rekey(k) for ChaChaPoly: the first 32 bytes of
 * ENCRYPT(k, 2^64-1, "", zeros[32]) (rev. 34 §4.2, §11.3). */
static int noise_rekey(uint8_t k[32])
{
    uint8_t nonce[PT_AEAD_NONCE_LEN], buf[32 + PT_AEAD_TAG_LEN];
    pt_aead a;
    int rc = pt_aead_init(&a, PT_AEAD_SODIUM, k);
    if (rc == PT_ERR_OK) {
        memset(buf, 0, 32);
        pt_aead_nonce(nonce, UINT64_MAX);
        rc = pt_aead_seal(&a, buf, nonce, NULL, 0, buf, 32);
        if (rc == PT_ERR_OK) {
            memcpy(k, buf, 32);
        }
    }
    pt_aead_cleanup(&a);
    sodium_memzero(buf, sizeof(buf));
    return rc;
}

int pt_frame_dir_rekey(pt_frame_dir *d)
{
    int rc = noise_rekey(d->k_data);
    if (rc == PT_ERR_OK) {
        rc = noise_rekey(d->k_len);
    }
    if (rc == PT_ERR_OK) {
        rc = dir_key_aead(d, d->aead.backend);
    }
    return rc;
}

void pt_frame_dir_cleanup(pt_frame_dir *d)
{
    pt_aead_cleanup(&d->aead);
    sodium_memzero(d, sizeof(*d));
}

/* CSPRNG bytes from the direction's pool (see pt_frame_dir). */
static void pool_bytes(pt_frame_dir *d, uint8_t *out, size_t n)
{
    while (n) {
        if (d->rnd_pos == 0 || d->rnd_pos >= sizeof(d->rnd)) {
            randombytes_buf(d->rnd, sizeof(d->rnd));
            d->rnd_pos = 0;
        }
        size_t take = sizeof(d->rnd) - d->rnd_pos;
        if (take > n) {
            take = n;
        }
        memcpy(out, d->rnd + d->rnd_pos, take);
        sodium_memzero(d->rnd + d->rnd_pos, take); /* never hand out a byte twice */
        d->rnd_pos += take;
        out += take;
        n -= take;
    }
}

/* The 2-byte mask for frame |n|: ChaCha20(K_len, nonce(n), counter 0). */
static void len_mask(const pt_frame_dir *d, uint8_t mask[2])
{
    uint8_t nonce[PT_AEAD_NONCE_LEN];
    static const uint8_t zero[2] = {0, 0};
    pt_aead_nonce(nonce, d->n);
    crypto_stream_chacha20_ietf_xor_ic(mask, zero, 2, nonce, 0, d->k_len);
}

/* ---- sealing ------------------------------------------------------------ */

int pt_frame_seal_raw(pt_frame_dir *d, uint8_t *buf, size_t cap, size_t *wire_len, uint8_t type,
                      uint32_t stream_id, const uint8_t *payload, size_t payload_len,
                      const uint8_t *pad, size_t pad_len)
{
    if (type > PT_FRAME_TYPE_MAX || stream_id > PT_STREAM_ID_MAX) {
        return PT_ERR_INVAL;
    }
    if (payload_len > PT_FRAME_MAX_PAYLOAD || pad_len > PT_FRAME_MAX_PAD) {
        return PT_ERR_FRAME_SIZE;
    }
    size_t body = PT_FRAME_HDR_LEN + payload_len + pad_len;
    size_t total = PT_FRAME_PREFIX_LEN + body + PT_FRAME_TAG_LEN;
    if (total > cap) {
        return PT_ERR_NOBUFS;
    }
    if (d->n >= UINT64_MAX - 1) {
        /* Sending frame 2^64-2 would bring n to 2^64-1, Rekey's nonce. */
        return PT_ERR_NONCE_EXHAUSTED;
    }

    uint8_t *pl = buf + PT_FRAME_PAYLOAD_OFFSET;
    if (payload && payload != pl && payload_len) {
        memmove(pl, payload, payload_len);
    }
    pt_cbb b;
    pt_cbb_init(&b, buf + PT_FRAME_PREFIX_LEN, PT_FRAME_HDR_LEN);
    pt_cbb_add_u8(&b, type);
    pt_cbb_add_u24(&b, stream_id);
    pt_cbb_add_u16(&b, (uint16_t)payload_len);
    pt_cbb_add_u8(&b, (uint8_t)pad_len);
    if (!pt_cbb_ok(&b)) {
        return PT_ERR_INVAL; /* cannot happen: checked above */
    }
    if (pad_len) {
        if (pad) {
            memcpy(pl + payload_len, pad, pad_len);
        } else {
            pool_bytes(d, pl + payload_len, pad_len);
        }
    }

    uint16_t len = (uint16_t)(body + PT_FRAME_TAG_LEN);
    uint8_t mask[2], nonce[PT_AEAD_NONCE_LEN];
    len_mask(d, mask);
    buf[0] = (uint8_t)((len >> 8) ^ mask[0]);
    buf[1] = (uint8_t)((len & 0xff) ^ mask[1]);
    pt_aead_nonce(nonce, d->n);
    /* The encrypted length is the AD: a changed prefix fails the tag. */
    int rc = pt_aead_seal(&d->aead, buf + PT_FRAME_PREFIX_LEN, nonce, buf, PT_FRAME_PREFIX_LEN,
                          buf + PT_FRAME_PREFIX_LEN, body);
    if (rc != PT_ERR_OK) {
        return rc;
    }
    d->n++;
    *wire_len = total;
    if (type == PT_FRAME_KEY_UPDATE) {
        return pt_frame_dir_rekey(d);
    }
    return PT_ERR_OK;
}

int pt_frame_seal(pt_frame_dir *d, const pt_pad_policy *policy, uint8_t *buf, size_t cap,
                  size_t *wire_len, uint8_t type, uint32_t stream_id, const uint8_t *payload,
                  size_t payload_len)
{
    uint8_t rnd = 0;
    if (policy->strategy == PT_PAD_RANDOM) {
        pool_bytes(d, &rnd, 1);
    }
    size_t pad_len = pt_frame_pad_len(policy, payload_len, rnd);
    return pt_frame_seal_raw(d, buf, cap, wire_len, type, stream_id, payload, payload_len, NULL,
                             pad_len);
}

/* ---- opening ------------------------------------------------------------ */

int pt_frame_opener_init(pt_frame_opener *o, pt_aead_backend backend, const uint8_t k[32])
{
    o->have_len = 0;
    o->len = 0;
    return pt_frame_dir_init(&o->dir, backend, k);
}

void pt_frame_opener_cleanup(pt_frame_opener *o)
{
    pt_frame_dir_cleanup(&o->dir);
    o->have_len = 0;
    o->len = 0;
}

/* Header rules that do not depend on session state (PROTOCOL.md §6.3). */
static int check_frame(const pt_frame_hdr *h, const uint8_t *payload)
{
    uint32_t sid = h->stream_id;
    size_t plen = h->payload_len;

    if (plen > PT_FRAME_MAX_PAYLOAD) {
        return PT_ERR_FRAME_SIZE;
    }
    switch (h->type) {
    case PT_FRAME_DATA:
    case PT_FRAME_STREAM_OPEN:
        return sid != 0 ? PT_ERR_OK : PT_ERR_PROTO;
    case PT_FRAME_STREAM_CLOSE:
        return (sid != 0 && (plen == 0 || plen == 4)) ? PT_ERR_OK : PT_ERR_PROTO;
    case PT_FRAME_WINDOW_UPDATE:
        if (plen != 4) {
            return PT_ERR_PROTO;
        }
        {
            uint32_t inc = pt_frame_window_increment(payload);
            return (inc != 0 && inc <= 0x7fffffffu) ? PT_ERR_OK : PT_ERR_PROTO;
        }
    case PT_FRAME_PING:
    case PT_FRAME_PONG:
        return (sid == 0 && plen == 8) ? PT_ERR_OK : PT_ERR_PROTO;
    case PT_FRAME_GOAWAY: {
        if (sid != 0 || plen != 8) {
            return PT_ERR_PROTO;
        }
        uint32_t last, code;
        pt_frame_goaway_fields(payload, &last, &code);
        return last <= PT_STREAM_ID_MAX ? PT_ERR_OK : PT_ERR_PROTO;
    }
    case PT_FRAME_PADDING:
        return sid == 0 ? PT_ERR_OK : PT_ERR_PROTO;
    case PT_FRAME_KEY_UPDATE:
        return (sid == 0 && plen == 0) ? PT_ERR_OK : PT_ERR_PROTO;
    default:
        return PT_ERR_PROTO;
    }
}

int pt_frame_open(pt_frame_opener *o, uint8_t *buf, size_t len, size_t *consumed,
                  pt_frame_hdr *hdr, uint8_t **payload)
{
    pt_frame_dir *d = &o->dir;

    if (!o->have_len) {
        if (len < PT_FRAME_PREFIX_LEN) {
            *consumed = PT_FRAME_PREFIX_LEN;
            return PT_ERR_AGAIN;
        }
        uint8_t mask[2];
        len_mask(d, mask);
        uint16_t l = (uint16_t)(((buf[0] ^ mask[0]) << 8) | (buf[1] ^ mask[1]));
        if (l < PT_FRAME_MIN_LEN) {
            return PT_ERR_FRAME_SIZE;
        }
        o->len = l;
        o->have_len = 1;
    }
    size_t total = PT_FRAME_PREFIX_LEN + (size_t)o->len;
    *consumed = total;
    if (len < total) {
        return PT_ERR_AGAIN;
    }
    if (d->n >= UINT64_MAX - 1) {
        return PT_ERR_NONCE_EXHAUSTED;
    }

    uint8_t nonce[PT_AEAD_NONCE_LEN];
    pt_aead_nonce(nonce, d->n);
    uint8_t *body = buf + PT_FRAME_PREFIX_LEN;
    int rc = pt_aead_open(&d->aead, body, nonce, buf, PT_FRAME_PREFIX_LEN, body, o->len);
    if (rc != PT_ERR_OK) {
        return PT_ERR_DECRYPT;
    }

    pt_cbs c;
    pt_cbs_init(&c, body, (size_t)o->len - PT_FRAME_TAG_LEN);
    pt_frame_hdr h;
    pt_cbs pl;
    if (!pt_cbs_get_u8(&c, &h.type) || !pt_cbs_get_u24(&c, &h.stream_id) ||
        !pt_cbs_get_u16(&c, &h.payload_len) || !pt_cbs_get_u8(&c, &h.pad_len)) {
        return PT_ERR_FRAME_SIZE; /* unreachable: len >= 23 */
    }
    /* The header must account for every authenticated byte. */
    if ((size_t)h.payload_len + h.pad_len != pt_cbs_len(&c) || !pt_cbs_get_bytes(&c, &pl, h.payload_len)) {
        return PT_ERR_FRAME_SIZE;
    }
    rc = check_frame(&h, pt_cbs_data(&pl));
    if (rc != PT_ERR_OK) {
        return rc;
    }

    d->n++;
    o->have_len = 0;
    *hdr = h;
    *payload = (uint8_t *)pt_cbs_data(&pl);
    if (h.type == PT_FRAME_KEY_UPDATE) {
        return pt_frame_dir_rekey(d);
    }
    return PT_ERR_OK;
}

/* ---- fixed payloads ----------------------------------------------------- */

static uint32_t get_u32(const uint8_t *p)
{
    pt_cbs c;
    uint32_t v = 0;
    pt_cbs_init(&c, p, 4);
    pt_cbs_get_u32(&c, &v);
    return v;
}

uint32_t pt_frame_close_code(const uint8_t *payload, size_t len)
{
    return len == 4 ? get_u32(payload) : PT_WIRE_NO_ERROR;
}

uint32_t pt_frame_window_increment(const uint8_t *payload) { return get_u32(payload); }

void pt_frame_goaway_fields(const uint8_t *payload, uint32_t *last_stream_id, uint32_t *code)
{
    *last_stream_id = get_u32(payload);
    *code = get_u32(payload + 4);
}

void pt_frame_put_u32(uint8_t out[4], uint32_t v)
{
    pt_cbb b;
    pt_cbb_init(&b, out, 4);
    pt_cbb_add_u32(&b, v);
}

void pt_frame_put_goaway(uint8_t out[8], uint32_t last_stream_id, uint32_t code)
{
    pt_cbb b;
    pt_cbb_init(&b, out, 8);
    pt_cbb_add_u32(&b, last_stream_id);
    pt_cbb_add_u32(&b, code);
}
