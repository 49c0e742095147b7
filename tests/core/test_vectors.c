/* test_vectors.c — the C implementation against the known-answer vectors in
 * the vectors/ JSON files (PROTOCOL.md §14), which an independent Python
 * implementation (vectors/gen/) produced from the spec.
 *
 * Every vector is checked byte for byte and, where the frame AEAD is
 * involved, once with each backend (PT_AEAD_BORINGSSL and PT_AEAD_SODIUM).
 * A vector that fails prints one FAIL line and the run goes on, so one
 * report shows every difference. Each file ends with a summary line
 * ("vectors: frames.json 40/40 passed"); a missing file fails the test: the
 * vectors are ours, not optional third-party data.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "pt_addr.h"
#include "pt_aead.h"
#include "pt_cbs.h"
#include "pt_err.h"
#include "pt_frame.h"
#include "pt_handshake.h"
#include "pt_noise.h"
#include "testutil.h"

#define BIG (PT_FRAME_MAX_WIRE + 64) /* any frame, payload or wire */
#define HS_BUF (2 + PT_HS_MSG_MAX + 64)

static const pt_aead_backend BACKENDS[] = {PT_AEAD_BORINGSSL, PT_AEAD_SODIUM};
static const char *const BACKEND_NAMES[] = {"boringssl", "sodium"};
#define N_BACKENDS (sizeof BACKENDS / sizeof BACKENDS[0])

/* ---- reporting ----------------------------------------------------------- */

/* One vector being checked: where it is, and whether it still passes. */
typedef struct vec {
    const char *file;
    char name[160];
    int ok;
} vec;

static unsigned long g_total, g_passed;

static void vec_begin(vec *v, const char *file, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void vec_fail(vec *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void vec_begin(vec *v, const char *file, const char *fmt, ...)
{
    va_list ap;
    v->file = file;
    v->ok = 1;
    va_start(ap, fmt);
    vsnprintf(v->name, sizeof v->name, fmt, ap);
    va_end(ap);
}

static void vec_fail(vec *v, const char *fmt, ...)
{
    va_list ap;
    printf("  FAIL %s %s: ", v->file, v->name);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    v->ok = 0;
}

/* Per-file tally. */
typedef struct tally {
    const char *file;
    unsigned long total, passed;
} tally;

static void tally_add(tally *t, const vec *v)
{
    t->total++;
    t->passed += v->ok ? 1 : 0;
}

static void tally_report(const tally *t)
{
    printf("vectors: %s %lu/%lu passed\n", t->file, t->passed, t->total);
    g_total += t->total;
    g_passed += t->passed;
}

/* ---- JSON access (a missing or malformed field fails the vector) ---------- */

static const json_t *jget(vec *v, const json_t *o, const char *key)
{
    const json_t *x = json_object_get(o, key);
    if (x == NULL) {
        vec_fail(v, "missing field \"%s\"", key);
    }
    return x;
}

static uint64_t jint(vec *v, const json_t *o, const char *key)
{
    const json_t *x = jget(v, o, key);
    if (x == NULL) {
        return 0;
    }
    if (!json_is_integer(x) || json_integer_value(x) < 0) {
        vec_fail(v, "field \"%s\" is not a non-negative integer", key);
        return 0;
    }
    return (uint64_t)json_integer_value(x);
}

static const char *jstr(vec *v, const json_t *o, const char *key)
{
    const json_t *x = jget(v, o, key);
    if (x == NULL) {
        return "";
    }
    if (!json_is_string(x)) {
        vec_fail(v, "field \"%s\" is not a string", key);
        return "";
    }
    return json_string_value(x);
}

/* jhex decodes hex field |key| into |out|; returns its length, or -1 (and
 * fails the vector). |want| >= 0 also requires that exact length. */
static long jhex(vec *v, const json_t *o, const char *key, uint8_t *out, size_t cap, long want)
{
    if (jget(v, o, key) == NULL) {
        return -1;
    }
    long n = tu_json_hex(o, key, out, cap);
    if (n < 0 || (want >= 0 && n != want)) {
        vec_fail(v, "field \"%s\" is not %s hex", key, want >= 0 ? "the right length of" : "valid");
        return -1;
    }
    return n;
}

/* expect_bytes compares |got| with the hex field |key|. */
static void expect_bytes(vec *v, const json_t *o, const char *key, const uint8_t *got, size_t len,
                         const char *what)
{
    uint8_t *want = malloc(BIG);
    assert_non_null(want);
    long n = jhex(v, o, key, want, BIG, -1);
    if (n >= 0 && ((size_t)n != len || memcmp(want, got, len) != 0)) {
        char *hex = malloc(2 * (len < 96 ? len : 96) + 1);
        assert_non_null(hex);
        tu_hex_encode(hex, got, len < 96 ? len : 96);
        vec_fail(v, "%s differs (%zu bytes, want %ld): got %s%s", what, len, n, hex,
                 len > 96 ? "..." : "");
        free(hex);
    }
    free(want);
}

static void expect_err(vec *v, int rc, const char *want, const char *what)
{
    if (strcmp(pt_err_name(rc), want) != 0) {
        vec_fail(v, "%s returned %s, want %s", what, pt_err_name(rc), want);
    }
}

/* ---- shared builders --------------------------------------------------------- */

/* The only payload pattern in the files: byte i is i % 251. */
static const char PATTERN[] = "i % 251";

static void fill_pattern(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)(i % 251);
    }
}

/* load_payload reads "payload" (hex) or "payload_pattern" + "payload_len". */
static long load_payload(vec *v, const json_t *o, uint8_t *out, size_t cap)
{
    if (json_object_get(o, "payload_pattern") != NULL) {
        const char *pat = jstr(v, o, "payload_pattern");
        uint64_t n = jint(v, o, "payload_len");
        if (strcmp(pat, PATTERN) != 0 || n > cap) {
            vec_fail(v, "unknown payload pattern \"%s\" or length %llu", pat,
                     (unsigned long long)n);
            return -1;
        }
        fill_pattern(out, (size_t)n);
        return (long)n;
    }
    return jhex(v, o, "payload", out, cap, -1);
}

/* expect_wire compares a sealed frame with "wire", or with "wire_sha256" and
 * "wire_head" (its first 64 bytes) for the large ones; and "wire_len". */
static void expect_wire(vec *v, const json_t *o, const uint8_t *wire, size_t len)
{
    if (jint(v, o, "wire_len") != len) {
        vec_fail(v, "wire is %zu bytes, want %llu", len,
                 (unsigned long long)jint(v, o, "wire_len"));
        return;
    }
    if (json_object_get(o, "wire") != NULL) {
        expect_bytes(v, o, "wire", wire, len, "wire");
        return;
    }
    uint8_t digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, wire, len);
    expect_bytes(v, o, "wire_sha256", digest, sizeof digest, "sha256(wire)");
    expect_bytes(v, o, "wire_head", wire, len < 64 ? len : 64, "wire head");
}

static int parse_strategy(const char *s, pt_pad_strategy *out)
{
    static const struct {
        const char *name;
        pt_pad_strategy s;
    } map[] = {{"NONE", PT_PAD_NONE},
               {"BLOCK", PT_PAD_BLOCK},
               {"RANDOM", PT_PAD_RANDOM},
               {"POWER_OF_TWO", PT_PAD_POWER_OF_TWO}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        if (strcmp(s, map[i].name) == 0) {
            *out = map[i].s;
            return 1;
        }
    }
    return 0;
}

/* check_padding: pt_frame_pad_len gives the "padding" object's pad_len. */
static void check_padding(vec *v, const json_t *padding, size_t payload_len)
{
    pt_pad_policy pol;
    const char *s = jstr(v, padding, "strategy");
    if (!parse_strategy(s, &pol.strategy)) {
        vec_fail(v, "unknown padding strategy \"%s\"", s);
        return;
    }
    pol.block = (uint16_t)jint(v, padding, "block");
    pol.min_size = (uint16_t)jint(v, padding, "min_size");
    uint8_t rnd = (uint8_t)jint(v, padding, "rnd");
    unsigned want = (unsigned)jint(v, padding, "pad_len");
    unsigned got = pt_frame_pad_len(&pol, payload_len, rnd);
    if (got != want) {
        vec_fail(v, "pt_frame_pad_len(%s, block %u, min %u, rnd %u, payload %zu) = %u, want %u",
                 s, pol.block, pol.min_size, rnd, payload_len, got, want);
    }
}

/* seal_and_open seals the frame |f| with |d| (pt_frame_seal_raw, explicit
 * padding), compares the wire, then opens it with |o|: first with 1 and 2
 * bytes (AGAIN), then whole, and compares header and payload. KEY_UPDATE
 * frames also compare the rekeyed keys on both sides. */
static void seal_and_open(vec *v, const json_t *f, pt_frame_dir *d, pt_frame_opener *o,
                          uint8_t *payload, uint8_t *buf)
{
    uint8_t pad[256];
    size_t wire_len = 0, consumed = 0;
    pt_frame_hdr hdr;
    uint8_t *got_payload = NULL;

    long plen = load_payload(v, f, payload, BIG);
    long padlen = jhex(v, f, "pad", pad, sizeof pad, -1);
    uint8_t type = (uint8_t)jint(v, f, "type");
    uint32_t sid = (uint32_t)jint(v, f, "stream_id");
    uint64_t n = jint(v, f, "n");
    if (!v->ok || plen < 0 || padlen < 0) {
        return;
    }
    if (json_object_get(f, "payload_len") != NULL && jint(v, f, "payload_len") != (uint64_t)plen) {
        vec_fail(v, "payload_len disagrees with the payload");
    }
    const json_t *padding = json_object_get(f, "padding");
    if (padding != NULL) {
        check_padding(v, padding, (size_t)plen);
    }
    if (d->n != n || o->dir.n != n) {
        vec_fail(v, "counter is %llu / %llu before the frame, want %llu",
                 (unsigned long long)d->n, (unsigned long long)o->dir.n, (unsigned long long)n);
    }

    int rc = pt_frame_seal_raw(d, buf, BIG, &wire_len, type, sid, payload, (size_t)plen, pad,
                               (size_t)padlen);
    if (rc != PT_ERR_OK) {
        vec_fail(v, "pt_frame_seal_raw returned %s", pt_err_name(rc));
        return;
    }
    expect_wire(v, f, buf, wire_len);
    if (type == PT_FRAME_KEY_UPDATE) {
        expect_bytes(v, f, "rekeyed_k_data", d->k_data, 32, "sender K_data after KEY_UPDATE");
        expect_bytes(v, f, "rekeyed_k_len", d->k_len, 32, "sender K_len after KEY_UPDATE");
    }

    /* The receiver sees the bytes arrive: 1, then 2 (the prefix), then all. */
    rc = pt_frame_open(o, buf, 1, &consumed, &hdr, &got_payload);
    if (rc != PT_ERR_AGAIN || consumed != PT_FRAME_PREFIX_LEN) {
        vec_fail(v, "open with 1 byte: %s, consumed %zu; want PT_ERR_AGAIN, 2", pt_err_name(rc),
                 consumed);
    }
    rc = pt_frame_open(o, buf, 2, &consumed, &hdr, &got_payload);
    if (rc != PT_ERR_AGAIN || consumed != wire_len) {
        vec_fail(v, "open with the prefix: %s, consumed %zu; want PT_ERR_AGAIN, %zu",
                 pt_err_name(rc), consumed, wire_len);
    }
    rc = pt_frame_open(o, buf, wire_len, &consumed, &hdr, &got_payload);
    if (rc != PT_ERR_OK) {
        vec_fail(v, "pt_frame_open returned %s", pt_err_name(rc));
        return;
    }
    if (consumed != wire_len || hdr.type != type || hdr.stream_id != sid ||
        hdr.payload_len != (uint16_t)plen || hdr.pad_len != (uint8_t)padlen) {
        vec_fail(v, "opened header differs: type %u sid %u payload %u pad %u consumed %zu",
                 hdr.type, hdr.stream_id, hdr.payload_len, hdr.pad_len, consumed);
    } else if (plen > 0 && memcmp(got_payload, payload, (size_t)plen) != 0) {
        vec_fail(v, "opened payload differs");
    }
    if (type == PT_FRAME_KEY_UPDATE) {
        expect_bytes(v, f, "rekeyed_k_data", o->dir.k_data, 32, "receiver K_data after KEY_UPDATE");
        expect_bytes(v, f, "rekeyed_k_len", o->dir.k_len, 32, "receiver K_len after KEY_UPDATE");
    }
}

static json_t *load_file(const char *name)
{
    char rel[128], path[1024];
    snprintf(rel, sizeof rel, "vectors/%s", name);
    json_t *j = tu_load_json(tu_source_path(path, sizeof path, rel));
    if (j == NULL) {
        printf("vectors: %s MISSING (%s); run python3 vectors/gen/gen_vectors.py\n", name, path);
    }
    return j;
}

/* ---- frames.json ----------------------------------------------------------- */

static void frames_b1(tally *t, const json_t *b1)
{
    static const char DRAFT_B1[] = "0000002a00050348656c6c6fa1b2c3"; /* draft B.1, pad a1 b2 c3 */
    uint8_t k[32], payload[16], pad[16], plain[64], buf[128], nonce[PT_AEAD_NONCE_LEN];
    size_t wire_len = 0;
    char hex[2 * sizeof plain + 1];

    vec v;
    vec_begin(&v, t->file, "b1");
    long plen = jhex(&v, b1, "payload", payload, sizeof payload, -1);
    long padlen = jhex(&v, b1, "pad", pad, sizeof pad, -1);
    if (jhex(&v, b1, "k", k, 32, 32) < 0 || plen < 0 || padlen < 0) {
        tally_add(t, &v);
        return;
    }
    for (size_t b = 0; b < N_BACKENDS; b++) {
        pt_frame_dir d;
        snprintf(v.name, sizeof v.name, "b1 [%s]", BACKEND_NAMES[b]);
        if (strcmp(jstr(&v, b1, "plaintext"), DRAFT_B1) != 0) {
            vec_fail(&v, "plaintext in the file is not the draft's B.1 frame");
        }
        assert_int_equal(pt_frame_dir_init(&d, BACKENDS[b], k), PT_ERR_OK);
        expect_bytes(&v, b1, "k_data", d.k_data, 32, "K_data");
        expect_bytes(&v, b1, "k_len", d.k_len, 32, "K_len");
        pt_aead check;
        assert_int_equal(pt_aead_init(&check, BACKENDS[b], d.k_data), PT_ERR_OK);

        int rc = pt_frame_seal_raw(&d, buf, sizeof buf, &wire_len, (uint8_t)jint(&v, b1, "type"),
                                   (uint32_t)jint(&v, b1, "stream_id"), payload, (size_t)plen, pad,
                                   (size_t)padlen);
        if (rc != PT_ERR_OK) {
            vec_fail(&v, "pt_frame_seal_raw returned %s", pt_err_name(rc));
        } else {
            expect_bytes(&v, b1, "wire", buf, wire_len, "wire");
            /* The header bytes, checked on their own: decrypt the body. */
            size_t body = wire_len - PT_FRAME_PREFIX_LEN;
            pt_aead_nonce(nonce, 0);
            rc = pt_aead_open(&check, plain, nonce, buf, PT_FRAME_PREFIX_LEN,
                              buf + PT_FRAME_PREFIX_LEN, body);
            if (rc != PT_ERR_OK) {
                vec_fail(&v, "body does not decrypt with K_data: %s", pt_err_name(rc));
            } else {
                tu_hex_encode(hex, plain, body - PT_AEAD_TAG_LEN);
                if (strcmp(hex, DRAFT_B1) != 0) {
                    vec_fail(&v, "plaintext %s, want %s", hex, DRAFT_B1);
                }
            }
            uint8_t mask[2];
            if (jhex(&v, b1, "len_mask", mask, 2, 2) == 2) {
                unsigned len = (unsigned)((buf[0] ^ mask[0]) << 8 | (buf[1] ^ mask[1]));
                if (len != jint(&v, b1, "len") || len != body) {
                    vec_fail(&v, "prefix unmasks to %u, want %zu", len, body);
                }
            }
        }
        pt_aead_cleanup(&check);
        pt_frame_dir_cleanup(&d);
    }
    printf("vectors: draft appendix B.1 frame (DATA, stream 42, \"Hello\", 3 padding bytes) "
           "bit-exact: %s\n", v.ok ? "passed" : "FAILED");
    tally_add(t, &v);
}

static void frames_pad_len(tally *t, const json_t *arr)
{
    size_t i;
    const json_t *e;
    json_array_foreach(arr, i, e)
    {
        vec v;
        vec_begin(&v, t->file, "pad_len[%zu]", i);
        check_padding(&v, e, (size_t)jint(&v, e, "payload_len"));
        tally_add(t, &v);
    }
}

static void frames_sequence(tally *t, const json_t *seq, uint8_t *payload, uint8_t *buf)
{
    const char *name = json_string_value(json_object_get(seq, "name"));
    const json_t *frames = json_object_get(seq, "frames");
    uint8_t k[32];
    size_t nf = json_array_size(frames);
    int *ok = calloc(nf ? nf : 1, sizeof *ok);
    assert_non_null(ok);
    for (size_t i = 0; i < nf; i++) {
        ok[i] = 1;
    }

    /* Both backends run the whole sequence (the counter and the rekeys
     * carry over from frame to frame); a frame passes if it passes on both. */
    for (size_t b = 0; b < N_BACKENDS; b++) {
        vec v;
        pt_frame_dir d;
        pt_frame_opener o;
        vec_begin(&v, t->file, "%s keys [%s]", name ? name : "?", BACKEND_NAMES[b]);
        if (jhex(&v, seq, "k", k, 32, 32) < 0 || frames == NULL) {
            vec_fail(&v, "no key or no frames");
            for (size_t i = 0; i < nf; i++) {
                ok[i] = 0;
            }
            break;
        }
        assert_int_equal(pt_frame_dir_init(&d, BACKENDS[b], k), PT_ERR_OK);
        assert_int_equal(pt_frame_opener_init(&o, BACKENDS[b], k), PT_ERR_OK);
        expect_bytes(&v, seq, "k_data", d.k_data, 32, "K_data");
        expect_bytes(&v, seq, "k_len", d.k_len, 32, "K_len");
        if (!v.ok) {
            for (size_t i = 0; i < nf; i++) {
                ok[i] = 0;
            }
        }
        for (size_t i = 0; i < nf; i++) {
            const json_t *f = json_array_get(frames, i);
            vec_begin(&v, t->file, "%s[%zu] %s [%s]", name ? name : "?", i,
                      json_string_value(json_object_get(f, "type_name")), BACKEND_NAMES[b]);
            seal_and_open(&v, f, &d, &o, payload, buf);
            ok[i] &= v.ok;
        }
        pt_frame_dir_cleanup(&d);
        pt_frame_opener_cleanup(&o);
    }
    for (size_t i = 0; i < nf; i++) {
        vec v = {.file = t->file, .ok = ok[i]};
        tally_add(t, &v);
    }
    free(ok);
}

/* rebuild_big_invalid makes the wire of an invalid frame too large for the
 * file: enc_len || AEAD(K_data, 0, ad = enc_len, plaintext_hdr || pattern).
 * Its sha256 (checked by the caller) proves it is the Python side's frame. */
static long rebuild_big_invalid(vec *v, const json_t *e, const uint8_t k[32],
                                pt_aead_backend backend, uint8_t *buf, uint8_t *tmp)
{
    uint8_t nonce[PT_AEAD_NONCE_LEN];
    pt_frame_dir d;
    long hl = jhex(v, e, "plaintext_hdr", tmp, PT_FRAME_HDR_LEN, PT_FRAME_HDR_LEN);
    long pl = load_payload(v, e, tmp + PT_FRAME_HDR_LEN, BIG - PT_FRAME_HDR_LEN - 64);
    if (jhex(v, e, "enc_len", buf, 2, 2) < 0 || hl < 0 || pl < 0) {
        return -1;
    }
    assert_int_equal(pt_frame_dir_init(&d, backend, k), PT_ERR_OK);
    pt_aead_nonce(nonce, 0);
    int rc = pt_aead_seal(&d.aead, buf + 2, nonce, buf, 2, tmp, (size_t)(hl + pl));
    pt_frame_dir_cleanup(&d);
    if (rc != PT_ERR_OK) {
        vec_fail(v, "pt_aead_seal returned %s", pt_err_name(rc));
        return -1;
    }
    return 2 + hl + pl + PT_AEAD_TAG_LEN;
}

static void frames_invalid(tally *t, const json_t *arr, uint8_t *payload, uint8_t *buf)
{
    size_t i;
    const json_t *e;
    uint8_t k[32];
    json_array_foreach(arr, i, e)
    {
        vec v;
        const char *name = json_string_value(json_object_get(e, "name"));
        vec_begin(&v, t->file, "invalid[%zu] %s", i, name ? name : "?");
        if (jhex(&v, e, "k", k, 32, 32) < 0) {
            tally_add(t, &v);
            continue;
        }
        const char *want = jstr(&v, e, "error");
        for (size_t b = 0; b < N_BACKENDS; b++) {
            pt_frame_opener o;
            pt_frame_hdr hdr;
            uint8_t *pl = NULL;
            size_t consumed = 0;
            long len;
            int ok_before = v.ok; /* failures on the other backend do not stop this one */
            v.ok = 1;
            if (json_object_get(e, "wire") != NULL) {
                len = jhex(&v, e, "wire", buf, BIG, -1);
            } else {
                len = rebuild_big_invalid(&v, e, k, BACKENDS[b], buf, payload);
                if (len >= 0) {
                    expect_wire(&v, e, buf, (size_t)len);
                }
            }
            if (len < 0 || !v.ok) {
                v.ok = 0;
                break;
            }
            v.ok = ok_before;
            assert_int_equal(pt_frame_opener_init(&o, BACKENDS[b], k), PT_ERR_OK);
            int rc = pt_frame_open(&o, buf, (size_t)len, &consumed, &hdr, &pl);
            pt_frame_opener_cleanup(&o);
            char what[64];
            snprintf(what, sizeof what, "pt_frame_open [%s]", BACKEND_NAMES[b]);
            expect_err(&v, rc, want, what);
        }
        tally_add(t, &v);
    }
}

static void test_frames(void **state)
{
    (void)state;
    tally t = {.file = "frames.json"};
    json_t *j = load_file(t.file);
    assert_non_null(j);
    uint8_t *payload = malloc(BIG), *buf = malloc(BIG);
    assert_non_null(payload);
    assert_non_null(buf);

    const json_t *b1 = json_object_get(j, "b1");
    const json_t *pads = json_object_get(j, "pad_len");
    const json_t *seqs = json_object_get(j, "sequences");
    const json_t *inv = json_object_get(j, "invalid");
    if (b1 == NULL || !json_is_array(pads) || !json_is_array(seqs) || !json_is_array(inv)) {
        printf("  FAIL frames.json: missing b1 / pad_len / sequences / invalid\n");
        t.total++;
    } else {
        frames_b1(&t, b1);
        frames_pad_len(&t, pads);
        size_t i;
        const json_t *s;
        json_array_foreach(seqs, i, s)
        {
            frames_sequence(&t, s, payload, buf);
        }
        frames_invalid(&t, inv, payload, buf);
    }
    tally_report(&t);
    free(payload);
    free(buf);
    json_decref(j);
    assert_true(t.total > 0);
    assert_int_equal(t.passed, t.total);
}

/* ---- handshake_payload.json -------------------------------------------------- */

/* load_hs_payload reads version, flags, timestamp, random and settings. */
static void load_hs_payload(vec *v, const json_t *o, pt_hs_payload *p)
{
    const json_t *s = jget(v, o, "settings");
    memset(p, 0, sizeof *p);
    p->version = (uint8_t)jint(v, o, "version");
    p->flags = (uint8_t)jint(v, o, "flags");
    p->timestamp = jint(v, o, "timestamp");
    jhex(v, o, "random", p->random, 16, 16);
    if (s != NULL) {
        p->settings.stream_window = (uint32_t)jint(v, s, "stream_window");
        p->settings.conn_window = (uint32_t)jint(v, s, "conn_window");
        p->settings.max_streams = (uint32_t)jint(v, s, "max_streams");
    }
}

/* expect_hs_payload compares a decoded payload with the JSON fields; the
 * decoder reports only the PADDING flag bit. */
static void expect_hs_payload(vec *v, const pt_hs_payload *got, const pt_hs_payload *want,
                              const char *what)
{
    if (got->version != want->version || got->flags != (want->flags & PT_HS_FLAG_PADDING) ||
        got->timestamp != want->timestamp || memcmp(got->random, want->random, 16) != 0 ||
        got->settings.stream_window != want->settings.stream_window ||
        got->settings.conn_window != want->settings.conn_window ||
        got->settings.max_streams != want->settings.max_streams) {
        vec_fail(v,
                 "%s: decoded v%u flags %u ts %llu windows %u/%u streams %u, want v%u flags %u "
                 "ts %llu windows %u/%u streams %u",
                 what, got->version, got->flags, (unsigned long long)got->timestamp,
                 got->settings.stream_window, got->settings.conn_window,
                 got->settings.max_streams, want->version, want->flags & PT_HS_FLAG_PADDING,
                 (unsigned long long)want->timestamp, want->settings.stream_window,
                 want->settings.conn_window, want->settings.max_streams);
    }
}

static void test_handshake_payload(void **state)
{
    (void)state;
    tally t = {.file = "handshake_payload.json"};
    json_t *j = load_file(t.file);
    assert_non_null(j);
    uint8_t enc[PT_HS_MSG_MAX], out[PT_HS_MSG_MAX], pad[PT_HS_MSG_MAX];
    static const char *const lists[] = {"valid", "tolerated", "invalid", "encode_invalid"};

    for (size_t l = 0; l < sizeof lists / sizeof lists[0]; l++) {
        const json_t *arr = json_object_get(j, lists[l]);
        size_t i;
        const json_t *e;
        if (!json_is_array(arr)) {
            printf("  FAIL %s: missing \"%s\"\n", t.file, lists[l]);
            t.total++;
            continue;
        }
        json_array_foreach(arr, i, e)
        {
            vec v;
            pt_hs_payload want, got;
            size_t out_len = 0;
            const char *name = json_string_value(json_object_get(e, "name"));
            vec_begin(&v, t.file, "%s[%zu] %s", lists[l], i, name ? name : "?");
            long n = l < 3 ? jhex(&v, e, "encoded", enc, sizeof enc, -1) : 0;
            if (n < 0) {
                tally_add(&t, &v);
                continue;
            }
            if (l == 0) { /* valid: encode, then decode */
                load_hs_payload(&v, e, &want);
                size_t tlv = (size_t)jint(&v, e, "pad_tlv_len");
                long pl = jhex(&v, e, "pad", pad, sizeof pad, -1);
                if (pl >= 0 && tlv != 0 && (size_t)pl + 3 != tlv) {
                    vec_fail(&v, "pad is %ld bytes, pad_tlv_len %zu", pl, tlv);
                }
                if (v.ok) {
                    int rc = pt_hs_payload_encode(out, sizeof out, &out_len, &want, tlv, pad);
                    if (rc != PT_ERR_OK) {
                        vec_fail(&v, "pt_hs_payload_encode returned %s", pt_err_name(rc));
                    } else {
                        expect_bytes(&v, e, "encoded", out, out_len, "encoding");
                    }
                }
            }
            if (l == 0 || l == 1) { /* valid, tolerated: decode */
                if (l == 1) { /* tolerated: the fields as decoded (flags already masked) */
                    const json_t *dec = jget(&v, e, "decoded");
                    if (dec != NULL) {
                        load_hs_payload(&v, dec, &want);
                        if (want.flags & ~PT_HS_FLAG_PADDING) {
                            vec_fail(&v, "decoded flags %u has reserved bits", want.flags);
                        }
                    }
                }
                int rc = pt_hs_payload_decode(&got, enc, (size_t)n);
                if (rc != PT_ERR_OK) {
                    vec_fail(&v, "pt_hs_payload_decode returned %s", pt_err_name(rc));
                } else {
                    expect_hs_payload(&v, &got, &want, "pt_hs_payload_decode");
                }
            } else if (l == 2) { /* invalid */
                expect_err(&v, pt_hs_payload_decode(&got, enc, (size_t)n), jstr(&v, e, "error"),
                           "pt_hs_payload_decode");
            } else { /* encode_invalid */
                memset(&want, 0, sizeof want);
                want.version = 1;
                pt_hs_settings_default(&want.settings);
                memset(pad, 0, 8);
                expect_err(&v,
                           pt_hs_payload_encode(out, sizeof out, &out_len, &want,
                                                (size_t)jint(&v, e, "pad_tlv_len"), pad),
                           jstr(&v, e, "error"), "pt_hs_payload_encode");
            }
            tally_add(&t, &v);
        }
    }
    tally_report(&t);
    json_decref(j);
    assert_true(t.total > 0);
    assert_int_equal(t.passed, t.total);
}

/* ---- handshake.json --------------------------------------------------------------- */

/* first_frame seals one of "first_frames" with |tx| and opens it with |rx|. */
static void first_frame(vec *v, const json_t *f, pt_frame_dir *tx, pt_frame_opener *rx,
                        uint8_t *payload, uint8_t *buf)
{
    pt_addr a;
    pt_cbs c;
    seal_and_open(v, f, tx, rx, payload, buf);
    /* Both first frames are STREAM_OPEN: their payload is one address. */
    long n = load_payload(v, f, payload, BIG);
    if (n >= 0) {
        pt_cbs_init(&c, payload, (size_t)n);
        if (pt_addr_decode(&a, &c) != PT_ERR_OK) {
            vec_fail(v, "STREAM_OPEN payload is not an address");
        }
    }
}

/* noise_direct plays the same handshake on the bare Noise API with the
 * recorded payloads (payload_plain): the Noise messages must be the ones
 * pt_hs wrote, and Split() and the handshake hash must match k1, k2 and
 * handshake_hash on both sides. (pt_hs does not hand out k1, k2 or h.) */
static void noise_direct(vec *v, const json_t *h, const json_t *cj, const json_t *sj,
                         const uint8_t *prologue, const uint8_t *c_priv, const uint8_t *s_pub,
                         const uint8_t *c_e, const uint8_t *s_priv, const uint8_t *s_e,
                         const uint8_t *msg1, size_t len1, const uint8_t *msg2, size_t len2)
{
    uint8_t c_plain[PT_HS_MSG_MAX], s_plain[PT_HS_MSG_MAX], got[PT_HS_MSG_MAX], msg[HS_BUF];
    uint8_t ks[32], kr[32], hh[PT_NOISE_MAX_HASH_LEN];
    size_t n = 0, got_len = 0, hh_len = 0;
    pt_noise_handshake ini, resp;
    long cl = jhex(v, cj, "payload_plain", c_plain, sizeof c_plain, -1);
    long sl = jhex(v, sj, "payload_plain", s_plain, sizeof s_plain, -1);
    pt_noise_config icfg = {.hash = PT_NOISE_HASH_SHA256,
                            .psk_pos = -1,
                            .prologue = prologue,
                            .prologue_len = PT_HS_PROLOGUE_LEN,
                            .local_static_priv = c_priv,
                            .remote_static_pub = s_pub,
                            .fixed_ephemeral_priv = c_e};
    pt_noise_config rcfg = {.hash = PT_NOISE_HASH_SHA256,
                            .psk_pos = -1,
                            .prologue = prologue,
                            .prologue_len = PT_HS_PROLOGUE_LEN,
                            .local_static_priv = s_priv,
                            .fixed_ephemeral_priv = s_e};
    if (cl < 0 || sl < 0) {
        return;
    }
    assert_int_equal(pt_noise_handshake_init(&ini, PT_NOISE_INITIATOR, &icfg), PT_ERR_OK);
    assert_int_equal(pt_noise_handshake_init(&resp, PT_NOISE_RESPONDER, &rcfg), PT_ERR_OK);
    if (pt_noise_handshake_create_init(&ini, msg, sizeof msg, &n, c_plain, (size_t)cl) !=
            PT_ERR_OK ||
        n + 2 != len1 || memcmp(msg, msg1 + 2, n) != 0) {
        vec_fail(v, "bare Noise message 1 with payload_plain is not msg1");
        goto out;
    }
    if (pt_noise_handshake_consume_init(&resp, got, sizeof got, &got_len, msg, n) != PT_ERR_OK ||
        got_len != (size_t)cl || memcmp(got, c_plain, got_len) != 0) {
        vec_fail(v, "bare Noise responder did not read payload_plain from msg1");
        goto out;
    }
    if (pt_noise_handshake_create_resp(&resp, msg, sizeof msg, &n, s_plain, (size_t)sl) !=
            PT_ERR_OK ||
        n + 2 != len2 || memcmp(msg, msg2 + 2, n) != 0) {
        vec_fail(v, "bare Noise message 2 with payload_plain is not msg2");
        goto out;
    }
    if (pt_noise_handshake_consume_resp(&ini, got, sizeof got, &got_len, msg, n) != PT_ERR_OK ||
        got_len != (size_t)sl || memcmp(got, s_plain, got_len) != 0) {
        vec_fail(v, "bare Noise initiator did not read payload_plain from msg2");
        goto out;
    }
    assert_int_equal(pt_noise_handshake_split(&ini, ks, kr, hh, &hh_len), PT_ERR_OK);
    expect_bytes(v, h, "k1", ks, 32, "initiator k1 (send)");
    expect_bytes(v, h, "k2", kr, 32, "initiator k2 (receive)");
    expect_bytes(v, h, "handshake_hash", hh, hh_len, "initiator handshake hash");
    assert_int_equal(pt_noise_handshake_split(&resp, ks, kr, hh, &hh_len), PT_ERR_OK);
    expect_bytes(v, h, "k2", ks, 32, "responder k2 (send)");
    expect_bytes(v, h, "k1", kr, 32, "responder k1 (receive)");
    expect_bytes(v, h, "handshake_hash", hh, hh_len, "responder handshake hash");
out:
    sodium_memzero(ks, sizeof ks);
    sodium_memzero(kr, sizeof kr);
    pt_noise_handshake_cleanup(&ini);
    pt_noise_handshake_cleanup(&resp);
}

static void run_handshake(vec *v, const json_t *h, pt_aead_backend backend, uint8_t *payload,
                          uint8_t *buf)
{
    uint8_t c_priv[32], c_pub[32], s_priv[32], s_pub[32], c_e[32], c_e_pub[32], s_e[32],
        s_e_pub[32], got_pub[32];
    uint8_t c_pad[PT_HS_MSG_MAX], s_pad[PT_HS_MSG_MAX];
    uint8_t msg1[HS_BUF], msg2[HS_BUF];
    size_t len1 = 0, len2 = 0, consumed = 0;
    pt_hs c, s, wrong;
    pt_hs_keys ck, sk;
    pt_hs_payload cp, sp, got;
    int have_ck = 0, have_sk = 0;

    const json_t *cj = jget(v, h, "client");
    const json_t *sj = jget(v, h, "server");
    const json_t *ff = jget(v, h, "first_frames");
    uint8_t transport = (uint8_t)jint(v, h, "transport");
    jhex(v, h, "client_static_priv", c_priv, 32, 32);
    jhex(v, h, "client_static_pub", c_pub, 32, 32);
    jhex(v, h, "server_static_priv", s_priv, 32, 32);
    jhex(v, h, "server_static_pub", s_pub, 32, 32);
    jhex(v, h, "client_ephemeral_priv", c_e, 32, 32);
    jhex(v, h, "server_ephemeral_priv", s_e, 32, 32);
    if (cj == NULL || sj == NULL || ff == NULL || json_array_size(ff) != 2 || !v->ok) {
        vec_fail(v, "incomplete handshake vector");
        return;
    }
    load_hs_payload(v, json_object_get(cj, "payload"), &cp);
    load_hs_payload(v, json_object_get(sj, "payload"), &sp);
    size_t c_nl = (size_t)jint(v, cj, "noise_len"), s_nl = (size_t)jint(v, sj, "noise_len");
    long cpl = jhex(v, cj, "pad", c_pad, sizeof c_pad, -1);
    long spl = jhex(v, sj, "pad", s_pad, sizeof s_pad, -1);
    if (!v->ok || cpl < 0 || spl < 0) {
        return;
    }

    /* Public keys and the prologue, on their own. */
    uint8_t prologue[PT_HS_PROLOGUE_LEN];
    pt_hs_prologue(prologue, transport);
    expect_bytes(v, h, "prologue", prologue, sizeof prologue, "pt_hs_prologue");
    assert_int_equal(pt_noise_pubkey(got_pub, c_priv), PT_ERR_OK);
    expect_bytes(v, h, "client_static_pub", got_pub, 32, "client static public key");
    assert_int_equal(pt_noise_pubkey(got_pub, s_priv), PT_ERR_OK);
    expect_bytes(v, h, "server_static_pub", got_pub, 32, "server static public key");
    assert_int_equal(pt_noise_pubkey(c_e_pub, c_e), PT_ERR_OK);
    expect_bytes(v, h, "client_ephemeral_pub", c_e_pub, 32, "client ephemeral public key");
    assert_int_equal(pt_noise_pubkey(s_e_pub, s_e), PT_ERR_OK);
    expect_bytes(v, h, "server_ephemeral_pub", s_e_pub, 32, "server ephemeral public key");

    /* -> e, es, s, ss (message 1) */
    memset(&c, 0, sizeof c);
    memset(&s, 0, sizeof s);
    int rc = pt_hs_client_create(&c, msg1, sizeof msg1, &len1, c_priv, s_pub, transport, &cp, c_nl,
                                 c_e, c_pad);
    if (rc != PT_ERR_OK) {
        vec_fail(v, "pt_hs_client_create returned %s", pt_err_name(rc));
        goto out;
    }
    expect_bytes(v, h, "msg1", msg1, len1, "message 1");

    /* The same message under another transport id must not be accepted
     * (the prologue binds it, PROTOCOL.md §5.2). */
    memset(&wrong, 0, sizeof wrong);
    rc = pt_hs_server_read(&wrong, msg1, len1, &consumed, s_priv, (uint8_t)(transport ^ 1), got_pub,
                           &got);
    pt_hs_cleanup(&wrong);
    if (rc == PT_ERR_OK) {
        vec_fail(v, "message 1 accepted under transport %u", transport ^ 1);
    }

    rc = pt_hs_server_read(&s, msg1, len1, &consumed, s_priv, transport, got_pub, &got);
    if (rc != PT_ERR_OK || consumed != len1) {
        vec_fail(v, "pt_hs_server_read returned %s, consumed %zu of %zu", pt_err_name(rc),
                 consumed, len1);
        goto out;
    }
    if (memcmp(got_pub, c_pub, 32) != 0) {
        vec_fail(v, "server read a different client static key");
    }
    expect_hs_payload(v, &got, &cp, "client payload at the server");

    /* <- e, ee, se (message 2) */
    rc = pt_hs_server_respond(&s, msg2, sizeof msg2, &len2, &sp, s_nl, s_e, s_pad, &sk, backend);
    if (rc != PT_ERR_OK) {
        vec_fail(v, "pt_hs_server_respond returned %s", pt_err_name(rc));
        goto out;
    }
    have_sk = 1;
    expect_bytes(v, h, "msg2", msg2, len2, "message 2");

    rc = pt_hs_client_finish(&c, msg2, len2, &consumed, &got, &ck, backend);
    if (rc != PT_ERR_OK || consumed != len2) {
        vec_fail(v, "pt_hs_client_finish returned %s, consumed %zu of %zu", pt_err_name(rc),
                 consumed, len2);
        goto out;
    }
    have_ck = 1;
    expect_hs_payload(v, &got, &sp, "server payload at the client");

    noise_direct(v, h, cj, sj, prologue, c_priv, s_pub, c_e, s_priv, s_e, msg1, len1, msg2, len2);

    /* The four frame keys (§5.9). */
    expect_bytes(v, h, "c2s_k_data", ck.tx.k_data, 32, "client tx K_data");
    expect_bytes(v, h, "c2s_k_len", ck.tx.k_len, 32, "client tx K_len");
    expect_bytes(v, h, "s2c_k_data", ck.rx.dir.k_data, 32, "client rx K_data");
    expect_bytes(v, h, "s2c_k_len", ck.rx.dir.k_len, 32, "client rx K_len");
    expect_bytes(v, h, "s2c_k_data", sk.tx.k_data, 32, "server tx K_data");
    expect_bytes(v, h, "s2c_k_len", sk.tx.k_len, 32, "server tx K_len");
    expect_bytes(v, h, "c2s_k_data", sk.rx.dir.k_data, 32, "server rx K_data");
    expect_bytes(v, h, "c2s_k_len", sk.rx.dir.k_len, 32, "server rx K_len");

    /* First frame each way. */
    first_frame(v, json_array_get(ff, 0), &ck.tx, &sk.rx, payload, buf);
    first_frame(v, json_array_get(ff, 1), &sk.tx, &ck.rx, payload, buf);

out:
    if (have_ck) {
        pt_hs_keys_cleanup(&ck);
    }
    if (have_sk) {
        pt_hs_keys_cleanup(&sk);
    }
    pt_hs_cleanup(&c);
    pt_hs_cleanup(&s);
}

static void test_handshake(void **state)
{
    (void)state;
    tally t = {.file = "handshake.json"};
    json_t *j = load_file(t.file);
    assert_non_null(j);
    uint8_t *payload = malloc(BIG), *buf = malloc(BIG);
    assert_non_null(payload);
    assert_non_null(buf);
    const json_t *arr = json_object_get(j, "handshakes");
    if (!json_is_array(arr) || json_array_size(arr) == 0) {
        printf("  FAIL %s: no \"handshakes\"\n", t.file);
        t.total++;
    } else {
        size_t i;
        const json_t *h;
        json_array_foreach(arr, i, h)
        {
            vec v;
            const char *name = json_string_value(json_object_get(h, "name"));
            int ok = 1;
            for (size_t b = 0; b < N_BACKENDS; b++) {
                vec_begin(&v, t.file, "handshakes[%zu] %s [%s]", i, name ? name : "?",
                          BACKEND_NAMES[b]);
                run_handshake(&v, h, BACKENDS[b], payload, buf);
                ok &= v.ok;
            }
            v.ok = ok;
            tally_add(&t, &v);
        }
    }
    tally_report(&t);
    free(payload);
    free(buf);
    json_decref(j);
    assert_true(t.total > 0);
    assert_int_equal(t.passed, t.total);
}

/* ---- addresses.json ----------------------------------------------------------------- */

static void addr_valid(vec *v, const json_t *e)
{
    uint8_t enc[PT_ADDR_MAX_ENCODED + 8], out[PT_ADDR_MAX_ENCODED + 8];
    pt_addr a, want;
    pt_cbs c;
    pt_cbb b;
    long n = jhex(v, e, "encoded", enc, sizeof enc, -1);
    uint8_t atyp = (uint8_t)jint(v, e, "atyp");
    uint16_t port = (uint16_t)jint(v, e, "port");
    if (n < 0 || !v->ok) {
        return;
    }

    /* The address the JSON fields describe. */
    memset(&want, 0, sizeof want);
    if (atyp == PT_ADDR_DOMAIN) {
        int rc = pt_addr_set_domain(&want, jstr(v, e, "domain"), port);
        if (rc != PT_ERR_OK) {
            vec_fail(v, "pt_addr_set_domain returned %s", pt_err_name(rc));
            return;
        }
    } else {
        want.type = atyp;
        want.port = port;
        if (jhex(v, e, "ip", want.u.ipv6, 16, atyp == PT_ADDR_IPV4 ? 4 : 16) < 0) {
            return;
        }
    }

    /* encode(fields) == encoded */
    pt_cbb_init(&b, out, sizeof out);
    int rc = pt_addr_encode(&b, &want);
    if (rc != PT_ERR_OK) {
        vec_fail(v, "pt_addr_encode returned %s", pt_err_name(rc));
    } else {
        expect_bytes(v, e, "encoded", out, b.len, "pt_addr_encode");
    }

    /* decode(encoded) == fields */
    pt_cbs_init(&c, enc, (size_t)n);
    rc = pt_addr_decode(&a, &c);
    if (rc != PT_ERR_OK) {
        vec_fail(v, "pt_addr_decode returned %s", pt_err_name(rc));
        return;
    }
    int same = a.type == want.type && a.port == want.port;
    if (same && atyp == PT_ADDR_DOMAIN) {
        same = a.domain_len == want.domain_len && strcmp(a.u.domain, want.u.domain) == 0;
    } else if (same) {
        same = memcmp(a.u.ipv6, want.u.ipv6, atyp == PT_ADDR_IPV4 ? 4 : 16) == 0;
    }
    if (!same) {
        char s[300];
        pt_addr_format(&a, s, sizeof s);
        vec_fail(v, "pt_addr_decode gave %s (type %u)", s, a.type);
    }
}

static void addr_encode_invalid(vec *v, const json_t *e)
{
    uint8_t host[300], out[PT_ADDR_MAX_ENCODED + 8];
    char str[300];
    pt_addr a;
    pt_cbb b;
    long n = jhex(v, e, "domain_hex", host, sizeof host, -1);
    const char *want = jstr(v, e, "error");
    uint16_t port = (uint16_t)jint(v, e, "port");
    if (n < 0 || !v->ok) {
        return;
    }
    if (n <= PT_ADDR_DOMAIN_MAX) { /* representable in pt_addr: the encoder refuses it */
        memset(&a, 0, sizeof a);
        a.type = PT_ADDR_DOMAIN;
        a.domain_len = (uint8_t)n;
        a.port = port;
        memcpy(a.u.domain, host, (size_t)n);
        pt_cbb_init(&b, out, sizeof out);
        expect_err(v, pt_addr_encode(&b, &a), want, "pt_addr_encode");
    }
    if (memchr(host, 0, (size_t)n) == NULL) { /* a C string: the setter refuses it */
        memcpy(str, host, (size_t)n);
        str[n] = 0;
        expect_err(v, pt_addr_set_domain(&a, str, port), want, "pt_addr_set_domain");
    }
}

static void test_addresses(void **state)
{
    (void)state;
    tally t = {.file = "addresses.json"};
    json_t *j = load_file(t.file);
    assert_non_null(j);
    static const char *const lists[] = {"valid", "invalid", "encode_invalid"};

    for (size_t l = 0; l < sizeof lists / sizeof lists[0]; l++) {
        const json_t *arr = json_object_get(j, lists[l]);
        size_t i;
        const json_t *e;
        if (!json_is_array(arr)) {
            printf("  FAIL %s: missing \"%s\"\n", t.file, lists[l]);
            t.total++;
            continue;
        }
        json_array_foreach(arr, i, e)
        {
            vec v;
            const char *name = json_string_value(json_object_get(e, "name"));
            vec_begin(&v, t.file, "%s[%zu] %s", lists[l], i, name ? name : "?");
            if (l == 0) {
                addr_valid(&v, e);
            } else if (l == 1) {
                uint8_t enc[PT_ADDR_MAX_ENCODED + 8];
                pt_addr a;
                pt_cbs c;
                long n = jhex(&v, e, "encoded", enc, sizeof enc, -1);
                if (n >= 0) {
                    pt_cbs_init(&c, enc, (size_t)n);
                    expect_err(&v, pt_addr_decode(&a, &c), jstr(&v, e, "error"), "pt_addr_decode");
                }
            } else {
                addr_encode_invalid(&v, e);
            }
            tally_add(&t, &v);
        }
    }
    tally_report(&t);
    json_decref(j);
    assert_true(t.total > 0);
    assert_int_equal(t.passed, t.total);
}

/* ---- main ------------------------------------------------------------------------------ */

static int report_total(void **state)
{
    (void)state;
    printf("vectors: total %lu/%lu passed\n", g_passed, g_total);
    return 0;
}

int main(void)
{
    if (sodium_init() < 0) {
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frames),
        cmocka_unit_test(test_handshake_payload),
        cmocka_unit_test(test_handshake),
        cmocka_unit_test(test_addresses),
    };
    return cmocka_run_group_tests(tests, NULL, report_total);
}
