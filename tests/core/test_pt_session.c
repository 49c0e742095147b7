/* test_pt_session.c — the session engine (core/pt_session.c), PROTOCOL.md
 * §6.5, §7, §8, §10, §11.
 *
 * Two sessions made from a real handshake are wired back to back in memory:
 * the pump moves one side's pending output into the other's on_bytes, in
 * whole, random or 1-byte chunks, with a fake clock. A "raw peer" keeps one
 * side's frame keys instead of a session, to craft frames a correct session
 * never sends (window violations, bad ids, GOAWAY errors).
 *
 * PT_SESSION_TEST_STREAM_BYTES overrides the per-stream size of the
 * 1000-stream test (default 1 MiB each way).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pt_err.h"
#include "pt_frame.h"
#include "pt_handshake.h"
#include "pt_session.h"

#define KIB 1024u
#define MIB (1024u * 1024u)

/* ---- source data -------------------------------------------------------- */

/* Every stream sends bytes src[base + (i % SRC_PERIOD)]: random, with a period
 * that is no multiple of any frame size, and a per-stream base. */
#define SRC_PERIOD (MIB + 4099u)
#define SRC_BASES 65536u
static uint8_t *g_src;
/* failmalloc runs: session calls may fail with PT_ERR_NOMEM (or find the
 * session dead); the application shrugs instead of asserting. */
static int g_tolerant;

#define APP_CHECK(call)                                                                            \
    do {                                                                                           \
        int app_rc_ = (call);                                                                      \
        if (!g_tolerant) {                                                                         \
            assert_int_equal(app_rc_, PT_ERR_OK);                                                  \
        }                                                                                          \
    } while (0)

static void src_init(void)
{
    if (!g_src) {
        g_src = malloc(SRC_PERIOD + SRC_BASES);
        assert_non_null(g_src);
        randombytes_buf(g_src, SRC_PERIOD + SRC_BASES);
    }
}

/* ---- the application side of a test ------------------------------------- */

typedef struct app_stream {
    crypto_generichash_state tx_hash, rx_hash; /* first: 64-byte aligned */
    struct side *side;
    uint32_t sid;
    int opened, failed, fin, reset, closed, writable;
    uint32_t fail_code, reset_code;
    uint64_t to_send, sent, received;
    uint64_t unconsumed;
    size_t base;
    int slow;                /* never call consumed */
    int shutdown_done;       /* sent everything and shut down */
    int no_shutdown;         /* keep the stream open after sending */
    int reset_after;         /* reset (CANCEL) once this many bytes arrived (0 = no) */
    int close_session_after; /* pt_session_close from on_stream_data */
    pt_addr target, bound;
    uint8_t tx_digest[32], rx_digest[32];
} app_stream;

#define MAX_APP_STREAMS 4096

typedef struct side {
    pt_session *s;
    struct pair *pair;
    int is_client;
    app_stream *streams[MAX_APP_STREAMS];
    size_t nstreams;
    int closed_calls, close_err;
    int goaway_calls;
    uint32_t goaway_last, goaway_code;
    int incoming_calls;
    int accept_mode; /* 0 accept, 1 reject, 2 leave pending */
    uint32_t reject_code;
    uint64_t server_send; /* bytes a server sends on every accepted stream */
    int server_no_shutdown;
    int incoming_slow;        /* new incoming streams never consume */
    int incoming_reset_after; /* new incoming streams reset after this many bytes */
    uint8_t *wire;
    size_t wire_len, wire_cap;
    int last_rc;          /* last on_bytes result */
    size_t peak_buffered; /* stats.buffered_bytes, sampled before each release */
} side;

typedef struct pair {
    side c, sv;
    uint64_t now;
    int chunk_mode; /* 0 whole, 1 random, 2 single bytes */
    int inplace;
    uint64_t bytes_moved;
} pair;

static app_stream *app_new(side *sd, uint64_t to_send)
{
    size_t sz = (sizeof(app_stream) + 63) / 64 * 64;
    app_stream *a = aligned_alloc(64, sz);
    assert_non_null(a);
    memset(a, 0, sizeof(*a));
    a->side = sd;
    a->to_send = to_send;
    a->base = randombytes_uniform(SRC_BASES);
    crypto_generichash_init(&a->tx_hash, NULL, 0, 32);
    crypto_generichash_init(&a->rx_hash, NULL, 0, 32);
    assert_true(sd->nstreams < MAX_APP_STREAMS);
    sd->streams[sd->nstreams++] = a;
    return a;
}

/* Write what the stream may take now; shut down after the last byte. */
static void app_send(app_stream *a)
{
    side *sd = a->side;
    while (a->sent < a->to_send && !a->closed && !a->reset) {
        uint64_t pos = a->sent % SRC_PERIOD;
        size_t n = 16 * KIB;
        if (n > a->to_send - a->sent) {
            n = (size_t)(a->to_send - a->sent);
        }
        if (n > SRC_PERIOD - pos) {
            n = (size_t)(SRC_PERIOD - pos);
        }
        const uint8_t *p = g_src + a->base + pos;
        size_t acc = 0;
        int rc = pt_session_stream_write(sd->s, a->sid, p, n, &acc);
        if (acc) {
            crypto_generichash_update(&a->tx_hash, p, acc);
            a->sent += acc;
        }
        if (rc == PT_ERR_FLOW_BLOCKED || acc < n) {
            assert_true(g_tolerant || rc == PT_ERR_OK || rc == PT_ERR_FLOW_BLOCKED);
            return;
        }
        if (g_tolerant && rc != PT_ERR_OK) {
            return;
        }
        assert_int_equal(rc, PT_ERR_OK);
    }
    if (a->sent == a->to_send && !a->shutdown_done && !a->no_shutdown && !a->closed && !a->reset) {
        a->shutdown_done = 1;
        APP_CHECK(pt_session_stream_shutdown(sd->s, a->sid));
    }
}

static void cb_incoming(pt_session *s, void *user, uint32_t sid, const pt_addr *target,
                        void **stream_user)
{
    side *sd = user;
    sd->incoming_calls++;
    assert_false(sd->is_client);
    assert_int_equal(sid & 1, 1);
    app_stream *a = app_new(sd, sd->server_send);
    a->sid = sid;
    a->target = *target;
    a->no_shutdown = sd->server_no_shutdown;
    a->slow = sd->incoming_slow;
    a->reset_after = sd->incoming_reset_after;
    *stream_user = a;
    if (sd->accept_mode == 0) {
        pt_addr bound;
        memset(&bound, 0, sizeof(bound));
        bound.type = PT_ADDR_IPV4;
        bound.u.ipv4[0] = 10;
        bound.u.ipv4[3] = 7;
        bound.port = 4242;
        APP_CHECK(pt_session_stream_accept(s, sid, &bound));
        a->opened = 1;
        app_send(a);
    } else if (sd->accept_mode == 1) {
        APP_CHECK(pt_session_stream_reject(s, sid, sd->reject_code));
    }
}

static void cb_opened(pt_session *s, void *user, uint32_t sid, void *stream_user,
                      const pt_addr *bound)
{
    app_stream *a = stream_user;
    assert_int_equal(a->sid, sid);
    assert_false(a->opened);
    a->opened = 1;
    a->bound = *bound;
    app_send(a);
}

static void cb_failed(pt_session *s, void *user, uint32_t sid, void *stream_user, uint32_t code)
{
    app_stream *a = stream_user;
    assert_false(a->opened);
    assert_false(a->closed);
    a->failed = 1;
    a->fail_code = code;
}

static void cb_data(pt_session *s, void *user, uint32_t sid, void *stream_user, const uint8_t *data,
                    size_t len)
{
    app_stream *a = stream_user;
    assert_non_null(a);
    assert_false(a->closed);
    assert_false(a->fin);
    crypto_generichash_update(&a->rx_hash, data, len);
    a->received += len;
    a->unconsumed += len;
    pt_session_stream_info info;
    assert_int_equal(pt_session_stream_get_info(s, sid, &info), PT_ERR_OK);
    assert_int_equal(info.unconsumed, a->unconsumed);
    if (a->reset_after && a->received >= (uint64_t)a->reset_after) {
        assert_int_equal(pt_session_stream_reset(s, sid, PT_WIRE_CANCEL), PT_ERR_OK);
        a->reset = 1;
        a->reset_code = PT_WIRE_CANCEL;
        /* Calls on a stream that is gone say so and do nothing. */
        assert_int_equal(pt_session_stream_consumed(s, sid, len), PT_ERR_STREAM_CLOSED);
        return;
    }
    if (a->close_session_after && a->received >= (uint64_t)a->close_session_after) {
        pt_session_close(s, PT_ERR_OK);
        return;
    }
    if (!a->slow) {
        /* Consumed from inside the callback: re-entrancy. */
        APP_CHECK(pt_session_stream_consumed(s, sid, a->unconsumed));
        a->unconsumed = 0;
    }
}

static void cb_fin(pt_session *s, void *user, uint32_t sid, void *stream_user)
{
    app_stream *a = stream_user;
    assert_false(a->fin);
    a->fin = 1;
}

static void cb_reset(pt_session *s, void *user, uint32_t sid, void *stream_user, uint32_t code)
{
    app_stream *a = stream_user;
    assert_false(a->closed);
    a->reset = 1;
    a->reset_code = code;
}

static void cb_writable(pt_session *s, void *user, uint32_t sid, void *stream_user)
{
    app_stream *a = stream_user;
    assert_false(a->closed);
    a->writable++;
    app_send(a);
}

static void cb_closed(pt_session *s, void *user, uint32_t sid, void *stream_user)
{
    app_stream *a = stream_user;
    assert_int_equal(a->sid, sid);
    assert_int_equal(a->closed, 0); /* exactly once */
    a->closed = 1;
    crypto_generichash_final(&a->tx_hash, a->tx_digest, 32);
    crypto_generichash_final(&a->rx_hash, a->rx_digest, 32);
    /* The stream is gone: every call says so. */
    size_t acc;
    assert_int_equal(pt_session_stream_write(s, sid, (const uint8_t *)"x", 1, &acc),
                     PT_ERR_STREAM_CLOSED);
}

static void cb_goaway(pt_session *s, void *user, uint32_t last, uint32_t code)
{
    side *sd = user;
    sd->goaway_calls++;
    sd->goaway_last = last;
    sd->goaway_code = code;
}

static void cb_closed_session(pt_session *s, void *user, int err)
{
    side *sd = user;
    assert_int_equal(sd->closed_calls, 0);
    sd->closed_calls++;
    sd->close_err = err;
    /* §11.1 / header contract: every stream heard of its end first. */
    for (size_t i = 0; i < sd->nstreams; i++) {
        if (sd->streams[i]->sid) {
            assert_int_equal(sd->streams[i]->closed, 1);
        }
    }
    assert_true(pt_session_is_closed(s));
}

static const pt_session_callbacks g_cbs = {
    .on_stream_incoming = cb_incoming,
    .on_stream_opened = cb_opened,
    .on_stream_failed = cb_failed,
    .on_stream_data = cb_data,
    .on_stream_fin = cb_fin,
    .on_stream_reset = cb_reset,
    .on_stream_writable = cb_writable,
    .on_stream_closed = cb_closed,
    .on_goaway = cb_goaway,
    .on_closed = cb_closed_session,
};

/* ---- handshake ---------------------------------------------------------- */

static void make_payload(pt_hs_payload *p, const pt_hs_settings *st)
{
    memset(p, 0, sizeof(*p));
    p->version = PT_PROTOCOL_VERSION;
    p->flags = PT_HS_FLAG_PADDING;
    p->timestamp = 1700000000;
    randombytes_buf(p->random, sizeof(p->random));
    p->settings = *st;
}

/* A real IK handshake; the settings each side saw from the other come back
 * in |c_peer| (what the client learned) and |s_peer|. */
static void handshake(pt_hs_keys *ck, pt_hs_keys *sk, const pt_hs_settings *cset,
                      const pt_hs_settings *sset, pt_hs_settings *c_peer, pt_hs_settings *s_peer)
{
    uint8_t c_priv[32], c_pub[32], s_priv[32], s_pub[32], got[32];
    uint8_t m1[PT_HS_MSG_MAX + 2], m2[PT_HS_MSG_MAX + 2];
    size_t m1_len, m2_len, used;
    pt_hs c, s;
    pt_hs_payload cp, sp, rp;

    assert_int_equal(pt_noise_keypair(c_priv, c_pub), PT_ERR_OK);
    assert_int_equal(pt_noise_keypair(s_priv, s_pub), PT_ERR_OK);
    make_payload(&cp, cset);
    assert_int_equal(pt_hs_client_create(&c, m1, sizeof(m1), &m1_len, c_priv, s_pub,
                                         PT_TRANSPORT_TCP, &cp, pt_hs_pick_len(1), NULL, NULL),
                     PT_ERR_OK);
    assert_int_equal(pt_hs_server_read(&s, m1, m1_len, &used, s_priv, PT_TRANSPORT_TCP, got, &rp),
                     PT_ERR_OK);
    assert_memory_equal(got, c_pub, 32);
    *s_peer = rp.settings;
    make_payload(&sp, sset);
    assert_int_equal(pt_hs_server_respond(&s, m2, sizeof(m2), &m2_len, &sp, pt_hs_pick_len(2), NULL,
                                          NULL, sk, PT_AEAD_BORINGSSL),
                     PT_ERR_OK);
    assert_int_equal(pt_hs_client_finish(&c, m2, m2_len, &used, &rp, ck, PT_AEAD_BORINGSSL),
                     PT_ERR_OK);
    *c_peer = rp.settings;
    pt_hs_cleanup(&c);
    pt_hs_cleanup(&s);
}

static void side_init(side *sd, pair *p, int is_client)
{
    memset(sd, 0, sizeof(*sd));
    sd->pair = p;
    sd->is_client = is_client;
}

/* make_pair_ex: sessions from a handshake with the given settings/configs. */
static void make_pair_ex(pair *p, const pt_session_config *ccfg, const pt_session_config *scfg,
                         const pt_hs_settings *cset, const pt_hs_settings *sset)
{
    pt_hs_keys ck, sk;
    pt_hs_settings c_peer, s_peer;
    src_init();
    memset(p, 0, sizeof(*p));
    p->now = 1000;
    side_init(&p->c, p, 1);
    side_init(&p->sv, p, 0);
    handshake(&ck, &sk, cset, sset, &c_peer, &s_peer);
    assert_int_equal(pt_session_new(&p->c.s, ccfg, &ck, 1, cset, &c_peer, &g_cbs, &p->c, p->now),
                     PT_ERR_OK);
    assert_int_equal(pt_session_new(&p->sv.s, scfg, &sk, 0, sset, &s_peer, &g_cbs, &p->sv, p->now),
                     PT_ERR_OK);
    /* Ownership was taken: the handshake's copies are wiped. */
    assert_int_equal(ck.tx.aead.ready, 0);
    assert_int_equal(sk.rx.dir.aead.ready, 0);
}

static void big_settings(pt_hs_settings *st)
{
    pt_hs_settings_default(st);
    st->conn_window = 16 * MIB; /* > stream window: see pt_session.h */
}

static void make_pair(pair *p)
{
    pt_hs_settings st;
    big_settings(&st);
    make_pair_ex(p, NULL, NULL, &st, &st);
}

static void side_free(side *sd)
{
    pt_session_free(sd->s);
    sd->s = NULL;
    for (size_t i = 0; i < sd->nstreams; i++) {
        free(sd->streams[i]);
    }
    sd->nstreams = 0;
    free(sd->wire);
    sd->wire = NULL;
}

static void pair_free(pair *p)
{
    side_free(&p->c);
    side_free(&p->sv);
}

/* ---- pump --------------------------------------------------------------- */

static void wire_append(side *sd, const void *d, size_t n)
{
    if (sd->wire_len + n > sd->wire_cap) {
        size_t cap = sd->wire_cap ? sd->wire_cap : 64 * KIB;
        while (cap < sd->wire_len + n) {
            cap *= 2;
        }
        sd->wire = realloc(sd->wire, cap);
        assert_non_null(sd->wire);
        sd->wire_cap = cap;
    }
    memcpy(sd->wire + sd->wire_len, d, n);
    sd->wire_len += n;
}

/* collect: take |from|'s output (up to about |limit| bytes) into its wire
 * buffer and release it, as a transport that wrote it all would. */
static size_t collect(side *from, size_t limit)
{
    struct iovec iov[16];
    size_t total = 0;
    while (total < limit) {
        size_t n = pt_session_pending_output(from->s, iov, 16);
        if (n == 0) {
            break;
        }
        size_t bytes = 0;
        for (size_t i = 0; i < n; i++) {
            assert_true(iov[i].iov_len > 0);
            wire_append(from, iov[i].iov_base, iov[i].iov_len);
            bytes += iov[i].iov_len;
        }
        pt_session_stats st;
        pt_session_get_stats(from->s, &st);
        if (st.buffered_bytes > from->peak_buffered) {
            from->peak_buffered = st.buffered_bytes;
        }
        pt_session_output_written(from->s, bytes);
        total += bytes;
    }
    return total;
}

static size_t chunk_len(pair *p, size_t left)
{
    size_t n = left;
    if (p->chunk_mode == 2) {
        n = 1;
    } else if (p->chunk_mode == 1) {
        uint32_t r = randombytes_random();
        n = (r & 7) == 0 ? 1 + (r >> 8) % 7 : 1 + (r >> 8) % 20000;
    }
    return n < left ? n : left;
}

/* deliver |from|'s wire bytes to |to| in the pair's chunking. */
static void deliver(pair *p, side *from, side *to)
{
    size_t off = 0;
    while (off < from->wire_len) {
        size_t n = chunk_len(p, from->wire_len - off);
        int rc = p->inplace ? pt_session_on_bytes_inplace(to->s, from->wire + off, n, p->now)
                            : pt_session_on_bytes(to->s, from->wire + off, n, p->now);
        to->last_rc = rc;
        if (rc != PT_ERR_OK) {
            break; /* closed: the rest would be refused */
        }
        off += n;
    }
    from->wire_len = 0;
}

/* pump until nothing moves; returns the bytes moved. */
static uint64_t pump(pair *p)
{
    uint64_t moved = 0;
    for (;;) {
        size_t a = collect(&p->c, 4 * MIB);
        deliver(p, &p->c, &p->sv);
        size_t b = collect(&p->sv, 4 * MIB);
        deliver(p, &p->sv, &p->c);
        moved += a + b;
        if (a == 0 && b == 0) {
            break;
        }
    }
    p->bytes_moved += moved;
    return moved;
}

static app_stream *client_open(pair *p, uint64_t to_send, const char *host)
{
    app_stream *a = app_new(&p->c, to_send);
    pt_addr t;
    assert_int_equal(pt_addr_set_domain(&t, host ? host : "example.com", 443), PT_ERR_OK);
    assert_int_equal(pt_session_stream_open(p->c.s, &t, a, &a->sid), PT_ERR_OK);
    return a;
}

static app_stream *server_stream(pair *p, uint32_t sid)
{
    for (size_t i = 0; i < p->sv.nstreams; i++) {
        if (p->sv.streams[i]->sid == sid) {
            return p->sv.streams[i];
        }
    }
    return NULL;
}

/* Both ends of a finished transfer agree byte for byte. */
static void check_transfer(app_stream *a, app_stream *b)
{
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(a->closed, 1);
    assert_int_equal(b->closed, 1);
    assert_int_equal(a->sent, a->to_send);
    assert_int_equal(b->sent, b->to_send);
    assert_int_equal(b->received, a->to_send);
    assert_int_equal(a->received, b->to_send);
    assert_memory_equal(a->tx_digest, b->rx_digest, 32);
    assert_memory_equal(b->tx_digest, a->rx_digest, 32);
    assert_true(a->fin);
    assert_true(b->fin);
    assert_false(a->reset);
    assert_false(b->reset);
}

/* ---- raw peer ----------------------------------------------------------- */

/* One side of a handshake kept as bare frame keys, to talk to a session. */
typedef struct raw_peer {
    pt_hs_keys k;
    uint8_t buf[PT_FRAME_MAX_WIRE];
} raw_peer;

typedef struct rframe {
    uint8_t type;
    uint32_t sid;
    uint16_t len;
    uint8_t pl[16];
} rframe;

/* A server session facing a raw client (is_client=0), or the reverse. */
static void make_raw(pair *p, raw_peer *r, int session_is_client, const pt_session_config *cfg,
                     const pt_hs_settings *session_set, const pt_hs_settings *raw_set)
{
    pt_hs_keys ck, sk;
    pt_hs_settings c_peer, s_peer;
    src_init();
    memset(p, 0, sizeof(*p));
    p->now = 1000;
    side_init(&p->c, p, 1);
    side_init(&p->sv, p, 0);
    if (session_is_client) {
        handshake(&ck, &sk, session_set, raw_set, &c_peer, &s_peer);
        assert_int_equal(
            pt_session_new(&p->c.s, cfg, &ck, 1, session_set, &c_peer, &g_cbs, &p->c, p->now),
            PT_ERR_OK);
        r->k = sk;
    } else {
        handshake(&ck, &sk, raw_set, session_set, &c_peer, &s_peer);
        assert_int_equal(
            pt_session_new(&p->sv.s, cfg, &sk, 0, session_set, &s_peer, &g_cbs, &p->sv, p->now),
            PT_ERR_OK);
        r->k = ck;
    }
}

static int raw_send(raw_peer *r, pt_session *s, uint64_t now, uint8_t type, uint32_t sid,
                    const void *pl, size_t len)
{
    size_t wl = 0;
    assert_int_equal(
        pt_frame_seal_raw(&r->k.tx, r->buf, sizeof(r->buf), &wl, type, sid, pl, len, NULL, 0),
        PT_ERR_OK);
    return pt_session_on_bytes(s, r->buf, wl, now);
}

static int raw_send_u32(raw_peer *r, pt_session *s, uint64_t now, uint8_t type, uint32_t sid,
                        uint32_t v)
{
    uint8_t pl[4];
    pt_frame_put_u32(pl, v);
    return raw_send(r, s, now, type, sid, pl, 4);
}

static int raw_open(raw_peer *r, pt_session *s, uint64_t now, uint32_t sid)
{
    static const uint8_t v4[] = {0x01, 127, 0, 0, 1, 0x00, 0x50}; /* 127.0.0.1:80 */
    return raw_send(r, s, now, PT_FRAME_STREAM_OPEN, sid, v4, sizeof(v4));
}

/* raw_recv opens everything |s| has to send; returns the frame count. */
static size_t raw_recv(raw_peer *r, pt_session *s, rframe *out, size_t max)
{
    struct iovec iov[16];
    uint8_t *all = NULL;
    size_t all_len = 0, nf = 0;
    for (;;) {
        size_t n = pt_session_pending_output(s, iov, 16);
        if (n == 0) {
            break;
        }
        size_t bytes = 0;
        for (size_t i = 0; i < n; i++) {
            all = realloc(all, all_len + iov[i].iov_len);
            assert_non_null(all);
            memcpy(all + all_len, iov[i].iov_base, iov[i].iov_len);
            all_len += iov[i].iov_len;
            bytes += iov[i].iov_len;
        }
        pt_session_output_written(s, bytes);
    }
    size_t off = 0;
    while (off < all_len) {
        size_t used;
        pt_frame_hdr h;
        uint8_t *pl;
        assert_int_equal(pt_frame_open(&r->k.rx, all + off, all_len - off, &used, &h, &pl),
                         PT_ERR_OK);
        if (nf < max) {
            out[nf].type = h.type;
            out[nf].sid = h.stream_id;
            out[nf].len = h.payload_len;
            memcpy(out[nf].pl, pl, h.payload_len < 16 ? h.payload_len : 16);
        }
        nf++;
        off += used;
    }
    free(all);
    return nf;
}

/* raw_recv_once: one pending_output call only (what one writev would carry). */
static size_t raw_recv_once(raw_peer *r, pt_session *s, rframe *out, size_t max)
{
    struct iovec iov[64];
    size_t n = pt_session_pending_output(s, iov, 64), nf = 0, bytes = 0;
    uint8_t *all = NULL;
    for (size_t i = 0; i < n; i++) {
        all = realloc(all, bytes + iov[i].iov_len);
        assert_non_null(all);
        memcpy(all + bytes, iov[i].iov_base, iov[i].iov_len);
        bytes += iov[i].iov_len;
    }
    pt_session_output_written(s, bytes);
    for (size_t off = 0; off < bytes;) {
        size_t used;
        pt_frame_hdr h;
        uint8_t *pl;
        assert_int_equal(pt_frame_open(&r->k.rx, all + off, bytes - off, &used, &h, &pl),
                         PT_ERR_OK);
        if (nf < max) {
            out[nf].type = h.type;
            out[nf].sid = h.stream_id;
            out[nf].len = h.payload_len;
            memcpy(out[nf].pl, pl, h.payload_len < 16 ? h.payload_len : 16);
        }
        nf++;
        off += used;
    }
    free(all);
    return nf;
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* find a frame of |type| on |sid| in |f|; returns its index or -1. */
static int find_frame(const rframe *f, size_t n, uint8_t type, uint32_t sid)
{
    for (size_t i = 0; i < n; i++) {
        if (f[i].type == type && f[i].sid == sid) {
            return (int)i;
        }
    }
    return -1;
}

/* ================================== tests ==================================== */

static void test_open_accept_reject(void **state)
{
    (void)state;
    pair p;
    make_pair(&p);
    p.sv.server_no_shutdown = 1;

    app_stream *a = client_open(&p, 0, "one.example");
    app_stream *b = client_open(&p, 0, "two.example");
    a->no_shutdown = b->no_shutdown = 1;
    assert_int_equal(a->sid, 1);
    assert_int_equal(b->sid, 3);
    pump(&p);
    assert_int_equal(p.sv.incoming_calls, 2);
    assert_true(a->opened);
    assert_int_equal(a->bound.type, PT_ADDR_IPV4);
    assert_int_equal(a->bound.u.ipv4[0], 10);
    assert_int_equal(a->bound.port, 4242);
    app_stream *sa = server_stream(&p, 1);
    assert_non_null(sa);
    assert_int_equal(sa->target.type, PT_ADDR_DOMAIN);
    assert_string_equal(sa->target.u.domain, "one.example");
    assert_int_equal(sa->target.port, 443);

    /* Reject with a connect outcome: the client learns the exact code. */
    p.sv.accept_mode = 1;
    p.sv.reject_code = PT_WIRE_CONNECTION_REFUSED;
    app_stream *c = client_open(&p, 0, "three.example");
    pump(&p);
    assert_true(c->failed);
    assert_int_equal(c->fail_code, PT_WIRE_CONNECTION_REFUSED);
    assert_int_equal(c->closed, 1);
    assert_false(c->opened);
    assert_int_equal(server_stream(&p, 5)->closed, 1);

    /* Leave one pending, then reject it later with another code. */
    p.sv.accept_mode = 2;
    app_stream *d = client_open(&p, 0, "four.example");
    pump(&p);
    assert_false(d->opened);
    assert_false(d->failed);
    assert_int_equal(pt_session_stream_reject(p.sv.s, d->sid, PT_WIRE_NAME_NOT_RESOLVED),
                     PT_ERR_OK);
    assert_int_equal(pt_session_stream_accept(p.sv.s, d->sid, NULL), PT_ERR_STREAM_CLOSED);
    pump(&p);
    assert_int_equal(d->fail_code, PT_WIRE_NAME_NOT_RESOLVED);
    assert_int_equal(server_stream(&p, d->sid)->closed, 1);

    /* Accept later with the default (hidden) bound address. */
    app_stream *e = client_open(&p, 0, "five.example");
    e->no_shutdown = 1;
    pump(&p);
    assert_int_equal(pt_session_stream_reject(p.sv.s, e->sid, PT_WIRE_NO_ERROR), PT_ERR_INVAL);
    assert_int_equal(pt_session_stream_accept(p.sv.s, e->sid, NULL), PT_ERR_OK);
    assert_int_equal(pt_session_stream_accept(p.sv.s, e->sid, NULL), PT_ERR_STATE);
    pump(&p);
    assert_true(e->opened);
    assert_int_equal(e->bound.type, PT_ADDR_IPV4);
    assert_int_equal(e->bound.port, 0);

    /* Streams with nothing to send close cleanly both ways. */
    for (app_stream *x = a; x; x = x == a ? b : x == b ? e : NULL) {
        assert_int_equal(pt_session_stream_shutdown(p.c.s, x->sid), PT_ERR_OK);
        assert_int_equal(pt_session_stream_shutdown(p.c.s, x->sid), PT_ERR_OK); /* idempotent */
        assert_int_equal(pt_session_stream_shutdown(p.sv.s, x->sid), PT_ERR_OK);
    }
    pump(&p);
    assert_int_equal(a->closed, 1);
    assert_int_equal(b->closed, 1);
    assert_int_equal(e->closed, 1);
    pt_session_stats st;
    pt_session_get_stats(p.c.s, &st);
    assert_int_equal(st.streams, 0);
    pt_session_get_stats(p.sv.s, &st);
    assert_int_equal(st.streams, 0);
    /* A server does not open streams in version 1 (§7.1). */
    uint32_t sid;
    pt_addr t;
    pt_addr_set_domain(&t, "x.example", 1);
    assert_int_equal(pt_session_stream_open(p.sv.s, &t, NULL, &sid), PT_ERR_STATE);
    pair_free(&p);
}

/* Data both ways in every chunking, through both input paths. */
static void transfer_once(int chunk_mode, int inplace, uint64_t up, uint64_t down)
{
    pair p;
    make_pair(&p);
    p.chunk_mode = chunk_mode;
    p.inplace = inplace;
    p.sv.server_send = down;
    app_stream *a = client_open(&p, up, NULL);
    pump(&p);
    app_stream *b = server_stream(&p, a->sid);
    check_transfer(a, b);
    assert_false(pt_session_is_closed(p.c.s));
    assert_false(pt_session_is_closed(p.sv.s));
    pt_session_stats st;
    pt_session_get_stats(p.c.s, &st);
    assert_int_equal(st.data_bytes_sent, up);
    assert_int_equal(st.data_bytes_received, down);
    assert_int_equal(st.send_buffered, 0);
    assert_int_equal(st.output_queued, 0);
    assert_int_equal(st.blocks_in_use, 0);
    pair_free(&p);
}

static void test_data_chunking(void **state)
{
    (void)state;
    /* More than a stream window (256 KiB) so WINDOW_UPDATEs must flow. */
    transfer_once(0, 0, 700 * KIB + 13, 600 * KIB + 1);
    transfer_once(0, 1, 700 * KIB + 13, 600 * KIB + 1);
    transfer_once(1, 0, 900 * KIB + 7, 800 * KIB + 3);
    transfer_once(1, 1, 900 * KIB + 7, 800 * KIB + 3);
    transfer_once(2, 0, 300 * KIB + 5, 290 * KIB);
    transfer_once(2, 1, 300 * KIB + 5, 290 * KIB);
    transfer_once(1, 0, 0, 5); /* empty one way */
}

static void test_default_windows(void **state)
{
    (void)state;
    /* PROTOCOL.md defaults on both sides (conn window = stream window). */
    pair p;
    pt_hs_settings st;
    pt_hs_settings_default(&st);
    make_pair_ex(&p, NULL, NULL, &st, &st);
    p.chunk_mode = 1;
    p.sv.server_send = 3 * MIB;
    app_stream *a = client_open(&p, 3 * MIB + 1, NULL);
    pump(&p);
    check_transfer(a, server_stream(&p, a->sid));
    pair_free(&p);
}

/* PROTOCOL.md §8.1: the default connection window (16 MiB) is larger than
 * the default stream window (256 KiB), so ONE reader that stops consuming
 * holds only its stream's window and every other stream keeps going (§8.2:
 * "stops its stream's sender and nobody else"). With equal defaults, as the
 * draft had them, the other stream stalled here. */
static void test_default_windows_isolate_slow_reader(void **state)
{
    (void)state;
    pair p;
    pt_hs_settings st;
    pt_hs_settings_default(&st);
    assert_true(st.conn_window > st.stream_window);
    make_pair_ex(&p, NULL, NULL, &st, &st);
    p.sv.server_no_shutdown = 1;
    app_stream *slow = client_open(&p, 4 * MIB, NULL);
    slow->no_shutdown = 1;
    collect(&p.c, 64 * KIB);
    deliver(&p, &p.c, &p.sv);
    server_stream(&p, slow->sid)->slow = 1;
    pump(&p);
    app_stream *other = client_open(&p, 1 * MIB, NULL);
    pump(&p);
    assert_true(other->opened);
    assert_int_equal(server_stream(&p, slow->sid)->received, PT_DEFAULT_STREAM_WINDOW);
    assert_int_equal(server_stream(&p, other->sid)->received, 1 * MIB); /* not stalled */
    pt_session_stats cs;
    pt_session_get_stats(p.c.s, &cs);
    assert_true(cs.conn_send_window > 0);
    pair_free(&p);
}

static void test_half_close(void **state)
{
    (void)state;
    pair p;
    make_pair(&p);
    p.chunk_mode = 1;
    p.sv.server_send = 2 * MIB;
    p.sv.server_no_shutdown = 1;
    /* Client sends 100 KiB and FINs; the server keeps sending 2 MiB after. */
    app_stream *a = client_open(&p, 100 * KIB, NULL);
    pump(&p);
    app_stream *b = server_stream(&p, a->sid);
    assert_true(b->fin);     /* server saw the client's FIN */
    assert_false(a->fin);    /* server has not FINed */
    assert_false(a->closed); /* half closed, not closed */
    assert_int_equal(a->received, 2 * MIB);
    pt_session_stream_info info;
    assert_int_equal(pt_session_stream_get_info(p.c.s, a->sid, &info), PT_ERR_OK);
    assert_true(info.fin_sent);
    assert_false(info.fin_received);
    assert_int_equal(pt_session_stream_get_info(p.sv.s, a->sid, &info), PT_ERR_OK);
    assert_true(info.fin_received);
    /* The half-closed side cannot write any more. */
    size_t acc;
    assert_int_equal(pt_session_stream_write(p.c.s, a->sid, g_src, 10, &acc), PT_ERR_STATE);
    /* More data from the server, then its FIN closes the stream. */
    b->to_send += 3 * MIB;
    app_send(b);
    pump(&p);
    assert_int_equal(a->received, 5 * MIB);
    assert_int_equal(pt_session_stream_shutdown(p.sv.s, b->sid), PT_ERR_OK);
    pump(&p);
    b->shutdown_done = 1;
    check_transfer(a, b);

    /* The other direction: the server FINs first, the client keeps sending. */
    p.sv.server_send = 10;
    p.sv.server_no_shutdown = 0;
    app_stream *c = client_open(&p, 0, NULL);
    c->no_shutdown = 1;
    pump(&p);
    app_stream *d = server_stream(&p, c->sid);
    assert_true(c->fin);
    assert_false(d->fin);
    c->to_send = 3 * MIB;
    app_send(c);
    pump(&p);
    assert_int_equal(d->received, 3 * MIB);
    assert_int_equal(pt_session_stream_shutdown(p.c.s, c->sid), PT_ERR_OK);
    c->shutdown_done = 1;
    pump(&p);
    check_transfer(c, d);
    pair_free(&p);
}

static void test_reset_mid_transfer(void **state)
{
    (void)state;
    pair p;
    make_pair(&p);
    p.chunk_mode = 1;
    p.sv.server_send = 0;
    p.sv.server_no_shutdown = 1;
    /* The server aborts from inside on_stream_data after 1 MiB of 10. */
    p.sv.incoming_reset_after = (int)MIB;
    app_stream *a = client_open(&p, 10 * MIB, NULL);
    pump(&p);
    p.sv.incoming_reset_after = 0;
    app_stream *b = server_stream(&p, a->sid);
    assert_non_null(b);
    assert_true(b->reset);
    assert_int_equal(b->closed, 1);
    assert_true(a->reset);
    assert_int_equal(a->reset_code, PT_WIRE_CANCEL);
    assert_int_equal(a->closed, 1);
    assert_true(a->sent < 10 * MIB);
    /* DATA in flight after the reset was credited back: the session still
     * moves data at full windows. */
    p.sv.server_send = 2 * MIB;
    p.sv.server_no_shutdown = 0;
    app_stream *c = client_open(&p, 2 * MIB, NULL);
    pump(&p);
    check_transfer(c, server_stream(&p, c->sid));
    pt_session_stats st;

    /* Client-side abort mid-transfer; unknown close codes would map to
     * INTERNAL_ERROR, known ones pass through. */
    p.sv.server_send = 8 * MIB;
    p.sv.server_no_shutdown = 1;
    app_stream *d = client_open(&p, 8 * MIB, NULL);
    collect(&p.c, 1 * MIB);
    deliver(&p, &p.c, &p.sv);
    collect(&p.sv, 1 * MIB);
    deliver(&p, &p.sv, &p.c);
    assert_int_equal(pt_session_stream_reset(p.c.s, d->sid, PT_WIRE_NO_ERROR), PT_ERR_INVAL);
    assert_int_equal(pt_session_stream_reset(p.c.s, d->sid, PT_WIRE_CONNECT_ERROR), PT_ERR_OK);
    d->reset = 1;
    assert_int_equal(pt_session_stream_reset(p.c.s, d->sid, PT_WIRE_CANCEL), PT_ERR_STREAM_CLOSED);
    pump(&p);
    app_stream *e = server_stream(&p, d->sid);
    assert_true(e->reset);
    assert_int_equal(e->reset_code, PT_WIRE_CONNECT_ERROR);
    assert_int_equal(e->closed, 1);
    assert_int_equal(d->closed, 1);
    pt_session_get_stats(p.c.s, &st);
    assert_int_equal(st.streams, 0);
    assert_int_equal(st.send_buffered, 0);
    assert_int_equal(st.blocks_in_use, 0);
    pair_free(&p);
}

static void test_refused_beyond_max_streams(void **state)
{
    (void)state;
    pair p;
    pt_hs_settings cs, ss;
    big_settings(&cs);
    big_settings(&ss);
    ss.max_streams = 2; /* the server lets the client open two */
    make_pair_ex(&p, NULL, NULL, &cs, &ss);
    p.sv.server_no_shutdown = 1;
    app_stream *a = client_open(&p, 0, NULL);
    app_stream *b = client_open(&p, 0, NULL);
    a->no_shutdown = b->no_shutdown = 1;
    /* The client honours the limit it learned. */
    pt_addr t;
    uint32_t sid;
    pt_addr_set_domain(&t, "x.example", 1);
    assert_int_equal(pt_session_stream_open(p.c.s, &t, NULL, &sid), PT_ERR_STREAM_LIMIT);
    pump(&p);
    assert_true(a->opened && b->opened);
    /* Once one closes, a new one fits. */
    assert_int_equal(pt_session_stream_reset(p.c.s, a->sid, PT_WIRE_CANCEL), PT_ERR_OK);
    a->reset = 1;
    pump(&p);
    app_stream *c = client_open(&p, 0, NULL);
    assert_int_equal(c->sid, 5);
    pump(&p);
    assert_true(c->opened);
    pair_free(&p);

    /* A client that ignores the limit gets REFUSED_STREAM; the session lives. */
    raw_peer r;
    pt_hs_settings raw;
    pt_hs_settings_default(&raw);
    make_raw(&p, &r, 0, NULL, &ss, &raw);
    p.sv.accept_mode = 2;
    assert_int_equal(raw_open(&r, p.sv.s, p.now, 1), PT_ERR_OK);
    assert_int_equal(raw_open(&r, p.sv.s, p.now, 3), PT_ERR_OK);
    assert_int_equal(raw_open(&r, p.sv.s, p.now, 5), PT_ERR_OK);
    rframe f[16];
    size_t n = raw_recv(&r, p.sv.s, f, 16);
    int i = find_frame(f, n, PT_FRAME_STREAM_CLOSE, 5);
    assert_true(i >= 0);
    assert_int_equal(get_u32(f[i].pl), PT_WIRE_REFUSED_STREAM);
    assert_int_equal(p.sv.incoming_calls, 2);
    /* DATA the opener sent optimistically on the refused id is ignored. */
    assert_int_equal(raw_send(&r, p.sv.s, p.now, PT_FRAME_DATA, 5, "abc", 3), PT_ERR_OK);
    assert_false(pt_session_is_closed(p.sv.s));
    pt_hs_keys_cleanup(&r.k);
    pair_free(&p);
}

static void test_stream_ids(void **state)
{
    (void)state;
    pair p;
    make_pair(&p);
    uint32_t prev = 0;
    for (int i = 0; i < 20; i++) {
        app_stream *a = client_open(&p, 10, NULL);
        assert_int_equal(a->sid & 1, 1);
        assert_true(a->sid > prev);
        prev = a->sid;
        if (i % 3 == 0) {
            pump(&p); /* some close before the next opens: ids never reused */
        }
    }
    pump(&p);
    for (size_t i = 0; i < p.c.nstreams; i++) {
        assert_int_equal(p.c.streams[i]->closed, 1);
    }
    pair_free(&p);

    /* Against a raw client: the id rules of §7.1 and §7.3. */
    raw_peer r;
    pt_hs_settings set;
    big_settings(&set);
    static const struct {
        uint8_t type;
        uint32_t sid;
        int expect;
    } cases[] = {
        {PT_FRAME_STREAM_OPEN, 2, PT_ERR_PROTO}, /* even: the client's ids are odd */
        {PT_FRAME_STREAM_OPEN, 7, PT_ERR_OK},    /* gaps are fine */
        {PT_FRAME_STREAM_OPEN, 5, PT_ERR_PROTO}, /* not increasing */
        {PT_FRAME_STREAM_OPEN, 7, PT_ERR_PROTO}, /* reused */
        {PT_FRAME_DATA, 9, PT_ERR_PROTO},        /* never opened */
        {PT_FRAME_WINDOW_UPDATE, 11, PT_ERR_PROTO},
        {PT_FRAME_STREAM_CLOSE, 13, PT_ERR_PROTO},
        {PT_FRAME_DATA, 3, PT_ERR_OK}, /* below the highest: closed, ignored */
        {PT_FRAME_WINDOW_UPDATE, 5, PT_ERR_OK},
        {PT_FRAME_STREAM_CLOSE, 1, PT_ERR_OK},
        {PT_FRAME_STREAM_OPEN, 4, PT_ERR_PROTO}, /* a server id the server never used */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        make_raw(&p, &r, 0, NULL, &set, &set);
        if (i != 1) {
            assert_int_equal(raw_open(&r, p.sv.s, p.now, 7), PT_ERR_OK);
        }
        int rc;
        if (cases[i].type == PT_FRAME_STREAM_OPEN) {
            rc = raw_open(&r, p.sv.s, p.now, cases[i].sid);
        } else if (cases[i].type == PT_FRAME_DATA) {
            rc = raw_send(&r, p.sv.s, p.now, PT_FRAME_DATA, cases[i].sid, "hi", 2);
        } else if (cases[i].type == PT_FRAME_WINDOW_UPDATE) {
            rc = raw_send_u32(&r, p.sv.s, p.now, PT_FRAME_WINDOW_UPDATE, cases[i].sid, 10);
        } else {
            rc = raw_send(&r, p.sv.s, p.now, PT_FRAME_STREAM_CLOSE, cases[i].sid, NULL, 0);
        }
        assert_int_equal(rc, cases[i].expect);
        if (rc != PT_ERR_OK) {
            /* Connection error: GOAWAY(PROTOCOL_ERROR) is the last frame. */
            rframe f[8];
            size_t n = raw_recv(&r, p.sv.s, f, 8);
            assert_true(n >= 1);
            assert_int_equal(f[n - 1].type, PT_FRAME_GOAWAY);
            assert_int_equal(get_u32(f[n - 1].pl), 7); /* last stream id it processed */
            assert_int_equal(get_u32(f[n - 1].pl + 4), PT_WIRE_PROTOCOL_ERROR);
            assert_int_equal(p.sv.closed_calls, 1);
            assert_int_equal(p.sv.close_err, PT_ERR_PROTO);
            assert_true(pt_session_is_drained(p.sv.s));
        }
        pt_hs_keys_cleanup(&r.k);
        pair_free(&p);
    }

    /* A client refuses a STREAM_OPEN from the server (§7.1). */
    make_raw(&p, &r, 1, NULL, &set, &set);
    assert_int_equal(raw_open(&r, p.c.s, p.now, 2), PT_ERR_OK);
    rframe f[4];
    size_t n = raw_recv(&r, p.c.s, f, 4);
    assert_int_equal(n, 1);
    assert_int_equal(f[0].type, PT_FRAME_STREAM_CLOSE);
    assert_int_equal(f[0].sid, 2);
    assert_int_equal(get_u32(f[0].pl), PT_WIRE_REFUSED_STREAM);
    /* and a reply for a stream it never opened is a connection error */
    assert_int_equal(raw_open(&r, p.c.s, p.now, 1), PT_ERR_PROTO);
    pt_hs_keys_cleanup(&r.k);
    pair_free(&p);
}

static void test_goaway_drain(void **state)
{
    (void)state;
    pair p;
    make_pair(&p);
    p.chunk_mode = 1;
    p.sv.server_send = 3 * MIB;
    app_stream *a = client_open(&p, 3 * MIB, NULL);
    app_stream *b = client_open(&p, 2 * MIB, NULL);
    /* Let the opens and some data through. */
    collect(&p.c, 300 * KIB);
    deliver(&p, &p.c, &p.sv);
    collect(&p.sv, 300 * KIB);
    deliver(&p, &p.sv, &p.c);
    assert_true(a->opened && b->opened);
    /* A new open crosses the server's GOAWAY on the wire. */
    app_stream *c = client_open(&p, 100, NULL);
    assert_int_equal(pt_session_goaway(p.sv.s, PT_WIRE_NO_ERROR), PT_ERR_OK);
    assert_false(pt_session_is_drained(p.sv.s));
    pump(&p);
    assert_int_equal(p.c.goaway_calls, 1);
    assert_int_equal(p.c.goaway_last, b->sid);
    assert_int_equal(p.c.goaway_code, PT_WIRE_NO_ERROR);
    /* The crossing stream was refused; the client may retry it elsewhere. */
    assert_true(c->failed);
    assert_int_equal(c->fail_code, PT_WIRE_REFUSED_STREAM);
    assert_int_equal(c->closed, 1);
    /* Streams at or below the last id finished. */
    check_transfer(a, server_stream(&p, a->sid));
    check_transfer(b, server_stream(&p, b->sid));
    /* Nothing new opens on a session going away. */
    pt_addr t;
    uint32_t sid;
    pt_addr_set_domain(&t, "x.example", 1);
    assert_int_equal(pt_session_stream_open(p.c.s, &t, NULL, &sid), PT_ERR_STATE);
    /* Both sides drained and closed themselves gracefully. */
    assert_true(pt_session_is_drained(p.c.s));
    assert_true(pt_session_is_drained(p.sv.s));
    assert_int_equal(p.c.closed_calls, 1);
    assert_int_equal(p.sv.closed_calls, 1);
    assert_int_equal(p.c.close_err, PT_ERR_OK);
    assert_int_equal(p.sv.close_err, PT_ERR_OK);
    pair_free(&p);

    /* A GOAWAY with an error ends the session at once; no GOAWAY back. */
    raw_peer r;
    pt_hs_settings set;
    big_settings(&set);
    make_raw(&p, &r, 1, NULL, &set, &set);
    app_stream *d = client_open(&p, 0, NULL);
    uint8_t pl[8];
    pt_frame_put_goaway(pl, 0, PT_WIRE_ENHANCE_YOUR_CALM);
    raw_recv(&r, p.c.s, NULL, 0);
    assert_int_equal(raw_send(&r, p.c.s, p.now, PT_FRAME_GOAWAY, 0, pl, 8), PT_ERR_IO);
    assert_true(d->failed); /* above last id 0: refused */
    assert_int_equal(d->closed, 1);
    assert_int_equal(p.c.close_err, PT_ERR_IO);
    assert_int_equal(raw_recv(&r, p.c.s, NULL, 0), 0);
    pt_hs_keys_cleanup(&r.k);
    pair_free(&p);

    /* A second GOAWAY may lower the last id, never raise it. */
    make_raw(&p, &r, 1, NULL, &set, &set);
    app_stream *e = client_open(&p, 0, NULL);
    e->no_shutdown = 1;
    raw_recv(&r, p.c.s, NULL, 0);
    pt_frame_put_goaway(pl, 9, PT_WIRE_NO_ERROR);
    assert_int_equal(raw_send(&r, p.c.s, p.now, PT_FRAME_GOAWAY, 0, pl, 8), PT_ERR_OK);
    assert_int_equal(p.c.closed_calls, 0); /* stream 1 is below 9: it lives on */
    assert_false(e->closed);
    pt_frame_put_goaway(pl, 7, PT_WIRE_NO_ERROR);
    assert_int_equal(raw_send(&r, p.c.s, p.now, PT_FRAME_GOAWAY, 0, pl, 8), PT_ERR_OK);
    pt_frame_put_goaway(pl, 11, PT_WIRE_NO_ERROR);
    assert_int_equal(raw_send(&r, p.c.s, p.now, PT_FRAME_GOAWAY, 0, pl, 8), PT_ERR_PROTO);
    assert_int_equal(e->closed, 1);
    pt_hs_keys_cleanup(&r.k);
    pair_free(&p);
}

static void test_keepalive(void **state)
{
    (void)state;
    pair p;
    make_pair(&p);
    app_stream *a = client_open(&p, 0, NULL);
    a->no_shutdown = 1;
    p.sv.server_no_shutdown = 1;
    pump(&p);
    assert_true(a->opened);
    /* Idle for 30 s: both send a PING; the answers keep them alive. */
    assert_int_equal(pt_session_next_deadline(p.c.s), p.now + 30000);
    for (int i = 0; i < 10; i++) {
        p.now += 10000;
        assert_int_equal(pt_session_on_timer(p.c.s, p.now), PT_ERR_OK);
        assert_int_equal(pt_session_on_timer(p.sv.s, p.now), PT_ERR_OK);
        pump(&p);
    }
    pt_session_stats cs, ss;
    pt_session_get_stats(p.c.s, &cs);
    pt_session_get_stats(p.sv.s, &ss);
    assert_true(cs.pings_sent >= 2);
    assert_false(pt_session_is_closed(p.c.s));
    assert_false(pt_session_is_closed(p.sv.s));

    /* The server goes silent: PING at +30 s, dead 30 s later. */
    uint64_t t0 = p.now;
    uint64_t pings = cs.pings_sent;
    p.now = t0 + 30000;
    assert_int_equal(pt_session_on_timer(p.c.s, p.now), PT_ERR_OK);
    pt_session_get_stats(p.c.s, &cs);
    assert_int_equal(cs.pings_sent, pings + 1);
    assert_int_equal(pt_session_next_deadline(p.c.s), p.now + 30000);
    p.now += 29999;
    assert_int_equal(pt_session_on_timer(p.c.s, p.now), PT_ERR_OK);
    p.now += 1;
    assert_int_equal(pt_session_on_timer(p.c.s, p.now), PT_ERR_TIMEOUT);
    assert_int_equal(p.c.closed_calls, 1); /* checks every stream closed first */
    assert_int_equal(p.c.close_err, PT_ERR_TIMEOUT);
    assert_true(a->reset);
    assert_int_equal(a->closed, 1);
    assert_int_equal(pt_session_next_deadline(p.c.s), UINT64_MAX);
    assert_int_equal(pt_session_on_timer(p.c.s, p.now), PT_ERR_STATE);
    pair_free(&p);
}

static void test_idle_stream_timeout(void **state)
{
    (void)state;
    pair p;
    make_pair(&p);
    p.sv.server_no_shutdown = 1;
    app_stream *a = client_open(&p, 1000, NULL);
    app_stream *busy = client_open(&p, 0, NULL);
    a->no_shutdown = busy->no_shutdown = 1;
    pump(&p);
    uint64_t start = p.now;
    /* Keep |busy| active every 100 s; |a| stays idle. */
    while (p.now < start + 310000) {
        p.now += 5000;
        if ((p.now - start) % 100000 == 0) {
            size_t acc;
            assert_int_equal(pt_session_stream_write(p.c.s, busy->sid, g_src, 10, &acc), PT_ERR_OK);
            busy->to_send += 10;
            crypto_generichash_update(&busy->tx_hash, g_src, 10);
            busy->sent += 10;
        }
        assert_int_equal(pt_session_on_timer(p.c.s, p.now), PT_ERR_OK);
        assert_int_equal(pt_session_on_timer(p.sv.s, p.now), PT_ERR_OK);
        pump(&p);
        if (a->closed) {
            break;
        }
    }
    assert_true(a->reset);
    assert_int_equal(a->reset_code, PT_WIRE_IDLE_TIMEOUT);
    assert_int_equal(a->closed, 1);
    assert_true(p.now >= start + 300000);
    assert_true(p.now <= start + 305000);
    app_stream *sa = server_stream(&p, a->sid);
    /* The server's own timer may fire in the same tick; either way IDLE_TIMEOUT. */
    assert_true(sa->reset);
    assert_int_equal(sa->reset_code, PT_WIRE_IDLE_TIMEOUT);
    assert_false(busy->closed);
    assert_false(pt_session_is_closed(p.c.s));
    pair_free(&p);
}

static void test_peer_violates_windows(void **state)
{
    (void)state;
    pair p;
    raw_peer r;
    pt_hs_settings ss, raw;
    rframe f[32];
    size_t n;
    int i;
    static uint8_t junk[8192];

    pt_hs_settings_default(&raw);
    pt_hs_settings_default(&ss);
    ss.stream_window = 1000;
    ss.conn_window = 5000;

    /* Stream window: 1001 bytes on a 1000-byte window -> STREAM_CLOSE(FLOW_CONTROL). */
    make_raw(&p, &r, 0, NULL, &ss, &raw);
    p.sv.server_no_shutdown = 1;
    p.sv.incoming_slow = 1;
    assert_int_equal(raw_open(&r, p.sv.s, p.now, 1), PT_ERR_OK);
    assert_int_equal(raw_send(&r, p.sv.s, p.now, PT_FRAME_DATA, 1, junk, 600), PT_ERR_OK);
    assert_int_equal(raw_send(&r, p.sv.s, p.now, PT_FRAME_DATA, 1, junk, 401), PT_ERR_OK);
    n = raw_recv(&r, p.sv.s, f, 32);
    i = find_frame(f, n, PT_FRAME_STREAM_CLOSE, 1);
    assert_true(i >= 0);
    assert_int_equal(f[i].len, 4);
    assert_int_equal(get_u32(f[i].pl), PT_WIRE_FLOW_CONTROL_ERROR);
    app_stream *a = server_stream(&p, 1);
    assert_true(a->reset);
    assert_int_equal(a->reset_code, PT_WIRE_FLOW_CONTROL_ERROR);
    assert_int_equal(a->closed, 1);
    assert_false(pt_session_is_closed(p.sv.s));
    /* DATA still in flight for the closed stream counts against the
     * connection window and is credited back (§8.3). */
    assert_int_equal(raw_send(&r, p.sv.s, p.now, PT_FRAME_DATA, 1, junk, 999), PT_ERR_OK);
    assert_int_equal(raw_send(&r, p.sv.s, p.now, PT_FRAME_DATA, 1, junk, 999), PT_ERR_OK);
    n = raw_recv(&r, p.sv.s, f, 32);
    i = find_frame(f, n, PT_FRAME_WINDOW_UPDATE, 0);
    assert_true(i >= 0);
    assert_true(get_u32(f[i].pl) >= 2500);
    /* Stream WINDOW_UPDATE past 2^24-1: a stream error. */
    assert_int_equal(raw_open(&r, p.sv.s, p.now, 3), PT_ERR_OK);
    assert_int_equal(raw_send_u32(&r, p.sv.s, p.now, PT_FRAME_WINDOW_UPDATE, 3, 0x00ffffffu),
                     PT_ERR_OK);
    n = raw_recv(&r, p.sv.s, f, 32);
    i = find_frame(f, n, PT_FRAME_STREAM_CLOSE, 3);
    assert_true(i >= 0);
    assert_int_equal(get_u32(f[i].pl), PT_WIRE_FLOW_CONTROL_ERROR);
    /* DATA after the peer's FIN: STREAM_CLOSED (§7.3). */
    assert_int_equal(raw_open(&r, p.sv.s, p.now, 5), PT_ERR_OK);
    assert_int_equal(raw_send(&r, p.sv.s, p.now, PT_FRAME_STREAM_CLOSE, 5, NULL, 0), PT_ERR_OK);
    assert_true(server_stream(&p, 5)->fin);
    assert_int_equal(raw_send(&r, p.sv.s, p.now, PT_FRAME_DATA, 5, junk, 1), PT_ERR_OK);
    n = raw_recv(&r, p.sv.s, f, 32);
    i = find_frame(f, n, PT_FRAME_STREAM_CLOSE, 5);
    assert_true(i >= 0);
    assert_int_equal(get_u32(f[i].pl), PT_WIRE_STREAM_CLOSED);
    assert_int_equal(server_stream(&p, 5)->reset_code, PT_WIRE_STREAM_CLOSED);
    /* A second FIN: STREAM_CLOSED too (§7.3). */
    assert_int_equal(raw_open(&r, p.sv.s, p.now, 7), PT_ERR_OK);
    assert_int_equal(raw_send(&r, p.sv.s, p.now, PT_FRAME_STREAM_CLOSE, 7, NULL, 0), PT_ERR_OK);
    assert_int_equal(raw_send(&r, p.sv.s, p.now, PT_FRAME_STREAM_CLOSE, 7, NULL, 0), PT_ERR_OK);
    n = raw_recv(&r, p.sv.s, f, 32);
    i = find_frame(f, n, PT_FRAME_STREAM_CLOSE, 7);
    assert_true(i >= 0);
    assert_int_equal(get_u32(f[i].pl), PT_WIRE_STREAM_CLOSED);
    assert_int_equal(server_stream(&p, 7)->reset_code, PT_WIRE_STREAM_CLOSED);
    assert_int_equal(server_stream(&p, 7)->closed, 1);
    /* An unknown close code arrives as INTERNAL_ERROR (§10.1). */
    assert_int_equal(raw_open(&r, p.sv.s, p.now, 9), PT_ERR_OK);
    assert_int_equal(raw_send_u32(&r, p.sv.s, p.now, PT_FRAME_STREAM_CLOSE, 9, 0x1234), PT_ERR_OK);
    assert_int_equal(server_stream(&p, 9)->reset_code, PT_WIRE_INTERNAL_ERROR);
    /* WINDOW_UPDATE increment above 2^31-1 breaks §6.3. */
    assert_int_equal(raw_send_u32(&r, p.sv.s, p.now, PT_FRAME_WINDOW_UPDATE, 0, 0x80000000u),
                     PT_ERR_PROTO);
    pt_hs_keys_cleanup(&r.k);
    pair_free(&p);

    /* Connection window: 4000 + 1001 bytes on two streams of a 5000-byte one. */
    ss.stream_window = 4000;
    make_raw(&p, &r, 0, NULL, &ss, &raw);
    p.sv.incoming_slow = 1; /* nothing is consumed */
    assert_int_equal(raw_open(&r, p.sv.s, p.now, 1), PT_ERR_OK);
    assert_int_equal(raw_open(&r, p.sv.s, p.now, 3), PT_ERR_OK);
    raw_recv(&r, p.sv.s, f, 32);
    assert_int_equal(raw_send(&r, p.sv.s, p.now, PT_FRAME_DATA, 1, junk, 4000), PT_ERR_OK);
    assert_int_equal(raw_send(&r, p.sv.s, p.now, PT_FRAME_DATA, 3, junk, 1000), PT_ERR_OK);
    assert_int_equal(raw_send(&r, p.sv.s, p.now, PT_FRAME_DATA, 3, junk, 1), PT_ERR_FLOW_CONTROL);
    n = raw_recv(&r, p.sv.s, f, 32);
    assert_true(n >= 1);
    assert_int_equal(f[n - 1].type, PT_FRAME_GOAWAY);
    assert_int_equal(get_u32(f[n - 1].pl + 4), PT_WIRE_FLOW_CONTROL_ERROR);
    assert_int_equal(p.sv.close_err, PT_ERR_FLOW_CONTROL);
    assert_true(server_stream(&p, 1)->reset);
    assert_int_equal(server_stream(&p, 1)->reset_code, PT_WIRE_FLOW_CONTROL_ERROR);
    pt_hs_keys_cleanup(&r.k);
    pair_free(&p);

    /* Connection send window past 2^31-1: a connection error. */
    make_raw(&p, &r, 0, NULL, &ss, &raw);
    assert_int_equal(raw_send_u32(&r, p.sv.s, p.now, PT_FRAME_WINDOW_UPDATE, 0, 0x7fffffffu),
                     PT_ERR_FLOW_CONTROL);
    pt_hs_keys_cleanup(&r.k);
    pair_free(&p);

    /* A session never sends past the windows it was given. */
    pt_hs_settings small;
    pt_hs_settings_default(&small);
    small.stream_window = 3000;
    small.conn_window = 5000;
    make_raw(&p, &r, 1, NULL, &raw, &small);
    app_stream *c1 = client_open(&p, 100000, NULL);
    app_stream *c2 = client_open(&p, 100000, NULL);
    c1->no_shutdown = c2->no_shutdown = 1;
    app_send(c1);
    app_send(c2);
    n = raw_recv(&r, p.c.s, f, 32);
    size_t total = 0, per[2] = {0, 0};
    for (size_t k = 0; k < n && k < 32; k++) {
        if (f[k].type == PT_FRAME_DATA) {
            total += f[k].len;
            per[f[k].sid == c1->sid ? 0 : 1] += f[k].len;
        }
    }
    assert_int_equal(total, 5000);
    assert_true(per[0] <= 3000 && per[1] <= 3000);
    /* Stream credit alone does not help while the connection is shut. */
    assert_int_equal(raw_send_u32(&r, p.c.s, p.now, PT_FRAME_WINDOW_UPDATE, c1->sid, 5000),
                     PT_ERR_OK);
    n = raw_recv(&r, p.c.s, f, 32);
    assert_int_equal(find_frame(f, n, PT_FRAME_DATA, c1->sid), -1);
    assert_int_equal(raw_send_u32(&r, p.c.s, p.now, PT_FRAME_WINDOW_UPDATE, 0, 1000), PT_ERR_OK);
    n = raw_recv(&r, p.c.s, f, 32);
    total = 0;
    for (size_t k = 0; k < n && k < 32; k++) {
        total += f[k].type == PT_FRAME_DATA ? f[k].len : 0;
    }
    assert_int_equal(total, 1000);
    pt_hs_keys_cleanup(&r.k);
    pair_free(&p);
}

/* §11.1: PONG goes ahead of queued DATA; §9/brief: round robin, one frame
 * per stream per turn. The peer is raw, with windows wide open. */
static void test_pong_first_and_fairness(void **state)
{
    (void)state;
    pair p;
    raw_peer r;
    pt_session_config cfg;
    pt_hs_settings mine, wide;
    rframe f[256];
    pt_session_config_default(&cfg);
    cfg.max_output_queued = 20000; /* about one frame per pending_output */
    pt_hs_settings_default(&mine);
    pt_hs_settings_default(&wide);
    wide.stream_window = PT_MAX_STREAM_WINDOW;
    wide.conn_window = 64 * MIB;
    make_raw(&p, &r, 1, &cfg, &mine, &wide);

    app_stream *a = client_open(&p, 0, NULL);
    a->no_shutdown = 1;
    size_t acc;
    assert_int_equal(pt_session_stream_write(p.c.s, a->sid, g_src, 200 * KIB, &acc), PT_ERR_OK);
    size_t n = raw_recv_once(&r, p.c.s, f, 256);
    assert_int_equal(f[0].type, PT_FRAME_STREAM_OPEN);
    assert_int_equal(f[n - 1].type, PT_FRAME_DATA);
    uint8_t ping[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    assert_int_equal(raw_send(&r, p.c.s, p.now, PT_FRAME_PING, 0, ping, 8), PT_ERR_OK);
    n = raw_recv_once(&r, p.c.s, f, 256);
    assert_true(n >= 2);
    assert_int_equal(f[0].type, PT_FRAME_PONG); /* before the DATA still queued */
    assert_memory_equal(f[0].pl, ping, 8);
    assert_int_equal(f[1].type, PT_FRAME_DATA);
    pt_hs_keys_cleanup(&r.k);
    pair_free(&p);

    /* Fairness: three streams with plenty to send share the wire evenly. */
    pt_session_config_default(&cfg);
    make_raw(&p, &r, 1, &cfg, &mine, &wide);
    app_stream *s3[3];
    for (int i = 0; i < 3; i++) {
        s3[i] = client_open(&p, 0, NULL);
        s3[i]->no_shutdown = 1;
        assert_int_equal(pt_session_stream_write(p.c.s, s3[i]->sid, g_src, 200 * KIB, &acc),
                         PT_ERR_OK);
        assert_int_equal(acc, 200 * KIB);
    }
    n = raw_recv(&r, p.c.s, f, 256);
    assert_true(n < 256);
    size_t cnt[3] = {0, 0, 0}, bytes[3] = {0, 0, 0}, data = 0;
    for (size_t i = 0; i < n; i++) {
        if (f[i].type != PT_FRAME_DATA) {
            continue;
        }
        int k = f[i].sid == s3[0]->sid ? 0 : f[i].sid == s3[1]->sid ? 1 : 2;
        cnt[k]++;
        bytes[k] += f[i].len;
        data++;
        /* Every prefix of the DATA sequence is balanced to within one frame
         * while all three still have data. */
        if (bytes[0] < 200 * KIB && bytes[1] < 200 * KIB && bytes[2] < 200 * KIB) {
            size_t lo = cnt[0] < cnt[1] ? cnt[0] : cnt[1];
            lo = lo < cnt[2] ? lo : cnt[2];
            size_t hi = cnt[0] > cnt[1] ? cnt[0] : cnt[1];
            hi = hi > cnt[2] ? hi : cnt[2];
            assert_true(hi - lo <= 1);
        }
    }
    assert_int_equal(bytes[0], 200 * KIB);
    assert_int_equal(bytes[1], 200 * KIB);
    assert_int_equal(bytes[2], 200 * KIB);
    assert_true(data >= 3 * 13);
    pt_hs_keys_cleanup(&r.k);
    pair_free(&p);
}

static void test_corrupted_byte(void **state)
{
    (void)state;
    for (int where = 0; where < 3; where++) {
        pair p;
        make_pair(&p);
        p.sv.server_send = 4 * MIB;
        app_stream *a = client_open(&p, 4 * MIB, NULL);
        app_stream *x = client_open(&p, 0, NULL);
        a->no_shutdown = x->no_shutdown = 1;
        p.sv.server_no_shutdown = 1;
        pump(&p); /* everything flows */
        /* Now one frame from the client with a flipped byte. */
        size_t acc;
        assert_int_equal(pt_session_stream_write(p.c.s, a->sid, g_src, 5000, &acc), PT_ERR_OK);
        collect(&p.c, MIB);
        assert_true(p.c.wire_len > 100);
        size_t pos = where == 0 ? 0 : where == 1 ? 5 : p.c.wire_len - 1;
        p.c.wire[pos] ^= 0x40;
        /* A control frame sealed on the server but not yet handed out. */
        app_stream *b = server_stream(&p, a->sid);
        assert_int_equal(pt_session_stream_reset(p.sv.s, x->sid, PT_WIRE_CANCEL), PT_ERR_OK);
        deliver(&p, &p.c, &p.sv);
        int rc = p.sv.last_rc;
        if (where == 0) {
            /* A changed length: a wrong size, or waiting for bytes that never come. */
            assert_true(rc == PT_ERR_OK || rc == PT_ERR_FRAME_SIZE || rc == PT_ERR_DECRYPT);
            if (rc == PT_ERR_OK) {
                uint8_t more[PT_FRAME_MAX_WIRE];
                memset(more, 0, sizeof(more));
                rc = pt_session_on_bytes(p.sv.s, more, sizeof(more), p.now);
                assert_true(rc == PT_ERR_DECRYPT || rc == PT_ERR_FRAME_SIZE);
            }
        } else {
            assert_int_equal(rc, PT_ERR_DECRYPT);
        }
        assert_true(pt_session_is_closed(p.sv.s));
        assert_int_equal(p.sv.closed_calls, 1);
        assert_true(b->reset);
        assert_int_equal(b->closed, 1);
        if (rc == PT_ERR_DECRYPT) {
            /* §10.2: after an AEAD failure nothing at all is sent. */
            struct iovec iov[4];
            assert_int_equal(pt_session_pending_output(p.sv.s, iov, 4), 0);
            assert_int_equal(p.sv.close_err, PT_ERR_DECRYPT);
        } else {
            collect(&p.sv, MIB); /* STREAM_CLOSE and GOAWAY(FRAME_SIZE_ERROR) */
        }
        assert_true(pt_session_is_drained(p.sv.s));
        assert_int_equal(pt_session_on_bytes(p.sv.s, g_src, 10, p.now), PT_ERR_STATE);
        pair_free(&p);
    }
}

static void test_rekey(void **state)
{
    (void)state;
    pair p;
    pt_session_config cfg;
    pt_hs_settings st;
    pt_session_config_default(&cfg);
    cfg.rekey_frames = 3;
    big_settings(&st);
    make_pair_ex(&p, &cfg, &cfg, &st, &st);
    p.chunk_mode = 1;
    p.sv.server_send = 2 * MIB;
    app_stream *a = client_open(&p, 2 * MIB, NULL);
    pump(&p);
    check_transfer(a, server_stream(&p, a->sid));
    pt_session_stats cs, ss;
    pt_session_get_stats(p.c.s, &cs);
    pt_session_get_stats(p.sv.s, &ss);
    /* Every third frame is a KEY_UPDATE; each is seen by the other side. */
    assert_true(cs.rekeys_sent >= cs.frames_sent / 3 - 1);
    assert_true(cs.rekeys_sent > 50);
    assert_int_equal(cs.rekeys_sent, ss.rekeys_received);
    assert_int_equal(ss.rekeys_sent, cs.rekeys_received);
    /* Traffic keeps going after all those key changes. */
    app_stream *b = client_open(&p, 100 * KIB, NULL);
    pump(&p);
    check_transfer(b, server_stream(&p, b->sid));
    pair_free(&p);

    /* Time-based rekey. */
    pt_session_config_default(&cfg);
    cfg.rekey_ms = 60000;
    make_pair_ex(&p, &cfg, &cfg, &st, &st);
    p.now += 60000;
    assert_true(pt_session_next_deadline(p.c.s) <= p.now);
    assert_int_equal(pt_session_on_timer(p.c.s, p.now), PT_ERR_OK);
    pump(&p);
    pt_session_get_stats(p.c.s, &cs);
    pt_session_get_stats(p.sv.s, &ss);
    assert_int_equal(cs.rekeys_sent, 1);
    assert_int_equal(ss.rekeys_received, 1);
    p.sv.server_send = 50 * KIB;
    a = client_open(&p, 50 * KIB, NULL);
    pump(&p);
    check_transfer(a, server_stream(&p, a->sid));
    pair_free(&p);
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        return dflt;
    }
    char *end = NULL;
    unsigned long long x = strtoull(v, &end, 10);
    return (end && *end == 0 && x > 0) ? (uint64_t)x : dflt;
}

static void test_many_streams(void **state)
{
    (void)state;
    const size_t nstreams = 1000;
    const uint64_t bytes = env_u64("PT_SESSION_TEST_STREAM_BYTES", MIB);
    pair p;
    make_pair(&p);
    p.chunk_mode = 1;
    p.inplace = 1;
    p.sv.server_send = bytes;
    for (size_t i = 0; i < nstreams; i++) {
        client_open(&p, bytes, NULL);
    }
    pump(&p);
    for (size_t i = 0; i < nstreams; i++) {
        app_stream *a = p.c.streams[i];
        check_transfer(a, server_stream(&p, a->sid));
    }
    pt_session_stats cs;
    pt_session_get_stats(p.c.s, &cs);
    assert_int_equal(cs.streams, 0);
    assert_int_equal(cs.data_bytes_sent, nstreams * bytes);
    assert_int_equal(cs.data_bytes_received, nstreams * bytes);
    assert_int_equal(cs.blocks_in_use, 0);
    assert_false(pt_session_is_closed(p.c.s));
    pair_free(&p);
}

/* Memory a sender may hold in blocks, from the windows and the config
 * (pt_session.c): per stream min(stream_send_buffer, window + one frame)
 * rounded up to blocks plus a partly sent and a partly filled one; the
 * output budget in blocks (DATA sealed in place is at least half a block per
 * frame; small frames and control frames share out blocks); the control
 * reserve; the reassembly buffer. */
static size_t memory_bound(const pt_session_config *cfg, size_t streams, uint32_t peer_window,
                           size_t block_size)
{
    size_t fill = cfg->max_payload;
    size_t per = cfg->stream_send_buffer;
    if ((size_t)peer_window + cfg->max_payload < per) {
        per = peer_window + cfg->max_payload;
    }
    size_t per_blocks = (per + fill - 1) / fill + 2;
    size_t q = cfg->max_output_queued + block_size;
    size_t out_blocks = 2 * q / fill + q / block_size + 2;
    size_t blocks = streams * per_blocks + out_blocks + 8;
    return blocks * block_size + PT_FRAME_MAX_WIRE;
}

static void test_slow_reader(void **state)
{
    (void)state;
    pair p;
    pt_session_config cfg;
    pt_hs_settings st;
    pt_session_config_default(&cfg);
    big_settings(&st);
    make_pair_ex(&p, &cfg, &cfg, &st, &st);
    p.inplace = 1;
    p.sv.server_no_shutdown = 1;
    const uint64_t fast_bytes = 64ull * MIB;
    app_stream *slow = client_open(&p, 8 * MIB, NULL);
    app_stream *fast = client_open(&p, fast_bytes, NULL);
    slow->no_shutdown = 1;
    /* Open both, then mark the server side of |slow| as never consuming. */
    collect(&p.c, 64 * KIB);
    deliver(&p, &p.c, &p.sv);
    app_stream *ss = server_stream(&p, slow->sid);
    app_stream *fs = server_stream(&p, fast->sid);
    assert_non_null(ss);
    assert_non_null(fs);
    ss->slow = 1;
    pt_session_stats cst;
    pt_session_get_stats(p.c.s, &cst);
    size_t bound = memory_bound(&cfg, 2, st.stream_window, cst.block_size);
    size_t rounds = 0;
    for (;;) {
        size_t a = collect(&p.c, 512 * KIB);
        assert_true(p.c.peak_buffered <= bound); /* sampled with output unreleased */
        deliver(&p, &p.c, &p.sv);
        size_t b = collect(&p.sv, 512 * KIB);
        deliver(&p, &p.sv, &p.c);
        /* The receiving application never holds more than the window. */
        assert_true(ss->unconsumed <= st.stream_window);
        rounds++;
        if (a == 0 && b == 0) {
            break;
        }
    }
    /* The fast stream finished; the slow one is stuck at its window. */
    assert_int_equal(fs->received, fast_bytes);
    assert_true(fs->fin);
    assert_int_equal(ss->received, st.stream_window);
    pt_session_stream_info info;
    assert_int_equal(pt_session_stream_get_info(p.c.s, slow->sid, &info), PT_ERR_OK);
    assert_int_equal(info.send_window, 0);
    assert_true(info.send_buffered <= cfg.max_payload);
    pt_session_get_stats(p.c.s, &cst);
    assert_true(cst.buffered_bytes <= memory_bound(&cfg, 1, 0, cst.block_size));
    print_message("slow reader: %zu rounds, sender peak %zu bytes (bound %zu), receiver peak %zu\n",
                  rounds, p.c.peak_buffered, bound, p.sv.peak_buffered);
    assert_true(p.sv.peak_buffered <= memory_bound(&cfg, 0, 0, cst.block_size));
    /* The reader catches up: everything flows again. */
    assert_int_equal(pt_session_stream_consumed(p.sv.s, ss->sid, ss->unconsumed), PT_ERR_OK);
    ss->unconsumed = 0;
    ss->slow = 0;
    pump(&p);
    assert_int_equal(ss->received, 8 * MIB);
    pair_free(&p);
}

static void test_reserve_commit(void **state)
{
    (void)state;
    pair p;
    make_pair(&p);
    p.chunk_mode = 1;
    p.sv.server_no_shutdown = 1;
    app_stream *a = client_open(&p, 0, NULL);
    a->no_shutdown = 1;
    pump(&p);
    /* Read-from-socket style: reserve, fill part, commit, with pumps between. */
    uint64_t sent = 0;
    const uint64_t total = 3 * MIB;
    int rounds = 0;
    while (sent < total) {
        uint8_t *buf;
        size_t max;
        int rc = pt_session_stream_reserve(p.c.s, a->sid, &buf, &max);
        if (rc == PT_ERR_FLOW_BLOCKED) {
            pump(&p);
            continue;
        }
        assert_int_equal(rc, PT_ERR_OK);
        assert_true(max >= 1);
        size_t n = 1 + randombytes_uniform(max < 40000 ? (uint32_t)max : 40000);
        if (n > total - sent) {
            n = (size_t)(total - sent);
        }
        uint64_t pos = sent % SRC_PERIOD;
        if (n > SRC_PERIOD - pos) {
            n = (size_t)(SRC_PERIOD - pos);
        }
        memcpy(buf, g_src + a->base + pos, n);
        if (rounds++ % 3 == 0) {
            /* pending_output between reserve and commit must not touch |buf| */
            collect(&p.c, 64 * KIB);
            deliver(&p, &p.c, &p.sv);
        }
        assert_int_equal(pt_session_stream_commit(p.c.s, a->sid, max + 1), PT_ERR_INVAL);
        assert_int_equal(pt_session_stream_commit(p.c.s, a->sid, n), PT_ERR_OK);
        assert_int_equal(pt_session_stream_commit(p.c.s, a->sid, 0), PT_ERR_STATE);
        crypto_generichash_update(&a->tx_hash, g_src + a->base + pos, n);
        sent += n;
        if (rounds % 5 == 0) {
            pump(&p);
        }
    }
    a->sent = a->to_send = total;
    assert_int_equal(pt_session_stream_shutdown(p.c.s, a->sid), PT_ERR_OK);
    a->shutdown_done = 1;
    assert_int_equal(pt_session_stream_shutdown(p.sv.s, a->sid), PT_ERR_OK);
    pump(&p);
    app_stream *b = server_stream(&p, a->sid);
    b->shutdown_done = 1;
    check_transfer(a, b);
    pair_free(&p);
}

static void test_padding_policies(void **state)
{
    (void)state;
    static const pt_pad_strategy strategies[] = {PT_PAD_NONE, PT_PAD_BLOCK, PT_PAD_RANDOM,
                                                 PT_PAD_POWER_OF_TWO};
    for (size_t i = 0; i < 4; i++) {
        pair p;
        pt_session_config cfg;
        pt_hs_settings st;
        pt_session_config_default(&cfg);
        cfg.pad.strategy = strategies[i];
        cfg.max_payload = i == 3 ? 20000 : 5000 + 1000 * i;
        big_settings(&st);
        make_pair_ex(&p, &cfg, &cfg, &st, &st);
        p.chunk_mode = 1;
        p.sv.server_send = 777 * KIB;
        app_stream *a = client_open(&p, 999 * KIB, NULL);
        pump(&p);
        check_transfer(a, server_stream(&p, a->sid));
        pair_free(&p);
    }
}

static void test_optimistic_data(void **state)
{
    (void)state;
    pair p;
    make_pair(&p);
    p.sv.accept_mode = 2;
    p.sv.server_send = 1000;
    /* The client writes before the answer (§7.2); the server app sees the
     * bytes while it is still connecting, then accepts. */
    app_stream *a = client_open(&p, 0, NULL);
    a->no_shutdown = 1;
    size_t acc;
    assert_int_equal(pt_session_stream_write(p.c.s, a->sid, g_src + a->base, 5000, &acc),
                     PT_ERR_OK);
    assert_int_equal(acc, 5000);
    crypto_generichash_update(&a->tx_hash, g_src + a->base, 5000);
    a->sent = a->to_send = 5000;
    assert_int_equal(pt_session_stream_shutdown(p.c.s, a->sid), PT_ERR_OK);
    a->shutdown_done = 1;
    pump(&p);
    app_stream *b = server_stream(&p, a->sid);
    assert_int_equal(b->received, 5000);
    assert_true(b->fin);
    assert_false(a->opened);
    /* Before accepting, the server cannot write or shut down. */
    assert_int_equal(pt_session_stream_write(p.sv.s, a->sid, g_src, 1, &acc), PT_ERR_STATE);
    assert_int_equal(pt_session_stream_shutdown(p.sv.s, a->sid), PT_ERR_STATE);
    assert_int_equal(pt_session_stream_accept(p.sv.s, a->sid, NULL), PT_ERR_OK);
    b->opened = 1;
    app_send(b);
    pump(&p);
    check_transfer(a, b);

    pair_free(&p);

    /* Optimistic data to a stream that is then refused is discarded, and the
     * connection window gets its credit back (the app never consumed it). */
    pt_hs_settings set;
    pt_hs_settings_default(&set);
    set.stream_window = 150000;
    set.conn_window = 200000;
    make_pair_ex(&p, NULL, NULL, &set, &set);
    p.sv.accept_mode = 2;
    p.sv.incoming_slow = 1;
    app_stream *c = client_open(&p, 0, NULL);
    c->no_shutdown = 1;
    assert_int_equal(pt_session_stream_write(p.c.s, c->sid, g_src, 100000, &acc), PT_ERR_OK);
    pump(&p);
    app_stream *d = server_stream(&p, c->sid);
    assert_int_equal(d->unconsumed, 100000);
    pt_session_stats st;
    pt_session_get_stats(p.sv.s, &st);
    assert_int_equal(st.conn_recv_window, 100000);
    assert_int_equal(pt_session_stream_reject(p.sv.s, c->sid, PT_WIRE_HOST_UNREACHABLE), PT_ERR_OK);
    pump(&p);
    assert_true(c->failed);
    assert_int_equal(c->fail_code, PT_WIRE_HOST_UNREACHABLE);
    assert_int_equal(d->closed, 1);
    pt_session_get_stats(p.sv.s, &st);
    assert_int_equal(st.conn_recv_window, 200000);
    pt_session_get_stats(p.c.s, &st);
    assert_int_equal(st.conn_send_window, 200000);
    pair_free(&p);
}

static void test_close_from_callback(void **state)
{
    (void)state;
    pair p;
    make_pair(&p);
    p.sv.server_no_shutdown = 1;
    app_stream *a = client_open(&p, 2 * MIB, NULL);
    app_stream *b = client_open(&p, 2 * MIB, NULL);
    app_stream *c = client_open(&p, 0, NULL);
    c->no_shutdown = 1;
    collect(&p.c, 64 * KIB);
    deliver(&p, &p.c, &p.sv);
    /* The server app closes the whole session from inside on_stream_data. */
    server_stream(&p, a->sid)->close_session_after = 100000;
    pump(&p);
    assert_int_equal(p.sv.closed_calls, 1);
    assert_int_equal(p.sv.close_err, PT_ERR_OK);
    for (size_t i = 0; i < p.sv.nstreams; i++) {
        assert_int_equal(p.sv.streams[i]->closed, 1);
        assert_int_equal(p.sv.streams[i]->reset_code, PT_WIRE_CANCEL);
    }
    /* The client got GOAWAY(NO_ERROR, 5) and finishes what it can: the server
     * ignores it, so its streams die with the transport. */
    assert_int_equal(p.c.goaway_calls, 1);
    assert_int_equal(p.c.goaway_last, 5);
    pt_session_close(p.c.s, PT_ERR_IO);
    pt_session_close(p.c.s, PT_ERR_IO); /* idempotent */
    assert_int_equal(p.c.closed_calls, 1);
    assert_int_equal(p.c.close_err, PT_ERR_IO);
    assert_int_equal(a->closed + b->closed + c->closed, 3);
    assert_true(b->reset);
    assert_int_equal(b->reset_code, PT_WIRE_INTERNAL_ERROR);
    pair_free(&p);
}

static void test_free_busy(void **state)
{
    (void)state;
    /* Freeing with live streams, queued data and unreleased output leaks
     * nothing and calls nothing back. */
    pair p;
    make_pair(&p);
    p.sv.server_send = 5 * MIB;
    client_open(&p, 5 * MIB, NULL);
    client_open(&p, 5 * MIB, NULL);
    collect(&p.c, 200 * KIB);
    deliver(&p, &p.c, &p.sv);
    collect(&p.sv, 200 * KIB);
    struct iovec iov[4];
    assert_true(pt_session_pending_output(p.sv.s, iov, 4) > 0); /* handed, never released */
    pair_free(&p);
}

/* ---- failmalloc --------------------------------------------------------- */

typedef struct failmem {
    long countdown; /* fail when it reaches 0; < 0 never */
    long calls;
    long failures;
} failmem;

static void *fail_malloc(size_t n, void *u)
{
    failmem *m = u;
    m->calls++;
    if (m->countdown >= 0 && m->countdown-- == 0) {
        m->failures++;
        return NULL;
    }
    return malloc(n);
}

static void fail_free(void *p, void *u)
{
    (void)u;
    free(p);
}

/* One scenario with the Nth allocation failing. Returns 1 if no allocation
 * failed (N was past the last one). */
static int failmalloc_run(long n)
{
    failmem m = {n, 0, 0};
    pt_session_config cfg;
    pt_hs_settings st;
    pt_hs_keys ck, sk;
    pt_hs_settings c_peer, s_peer;
    pair p;

    pt_session_config_default(&cfg);
    cfg.mem.malloc_fn = fail_malloc;
    cfg.mem.free_fn = fail_free;
    cfg.mem.mem_user = &m;
    cfg.max_buffer_bytes = 1 * MIB;
    big_settings(&st);
    memset(&p, 0, sizeof(p));
    p.now = 1000;
    side_init(&p.c, &p, 1);
    side_init(&p.sv, &p, 0);
    p.chunk_mode = 1;
    handshake(&ck, &sk, &st, &st, &c_peer, &s_peer);
    int rc = pt_session_new(&p.c.s, &cfg, &ck, 1, &st, &c_peer, &g_cbs, &p.c, p.now);
    if (rc != PT_ERR_OK) {
        assert_int_equal(rc, PT_ERR_NOMEM);
        assert_int_equal(ck.tx.aead.ready, 1); /* not taken on failure */
        pt_hs_keys_cleanup(&ck);
        pt_hs_keys_cleanup(&sk);
        return 0;
    }
    rc = pt_session_new(&p.sv.s, &cfg, &sk, 0, &st, &s_peer, &g_cbs, &p.sv, p.now);
    if (rc != PT_ERR_OK) {
        pt_hs_keys_cleanup(&sk);
        pair_free(&p);
        return 0;
    }
    p.sv.server_send = 50 * KIB;
    for (int i = 0; i < 16; i++) {
        app_stream *a = app_new(&p.c, 20 * KIB);
        pt_addr t;
        pt_addr_set_domain(&t, "fail.example", 80);
        rc = pt_session_stream_open(p.c.s, &t, a, &a->sid);
        if (rc != PT_ERR_OK) {
            a->sid = 0; /* never opened: no callbacks will come */
            a->closed = 1;
            if (rc != PT_ERR_NOMEM) {
                break;
            }
        }
    }
    for (int i = 0; i < 50 && !pt_session_is_closed(p.c.s) && !pt_session_is_closed(p.sv.s); i++) {
        if (pump(&p) == 0) {
            break;
        }
    }
    /* Whatever happened, every opened stream ended or is still live (a stream
     * call's fatal error is delivered by the next driver call). */
    pt_session_output_written(p.c.s, 0);
    if (pt_session_is_closed(p.c.s)) {
        for (size_t i = 0; i < p.c.nstreams; i++) {
            assert_int_equal(p.c.streams[i]->closed, 1);
        }
    }
    int clean = m.failures == 0;
    pair_free(&p);
    return clean;
}

static void test_failmalloc(void **state)
{
    (void)state;
    src_init();
    long n;
    g_tolerant = 1;
    for (n = 0; n < 5000; n++) {
        if (failmalloc_run(n)) {
            break;
        }
    }
    g_tolerant = 0;
    assert_true(n < 5000);
    print_message("failmalloc: %ld allocation points tried\n", n);
}

static void test_config_checks(void **state)
{
    (void)state;
    pt_session_config cfg;
    pt_hs_settings st, bad;
    pt_hs_keys ck, sk;
    pt_hs_settings cp, sp;
    pt_session *s = NULL;
    pt_hs_settings_default(&st);
    handshake(&ck, &sk, &st, &st, &cp, &sp);
    pt_session_config_default(&cfg);
    cfg.max_payload = PT_FRAME_MAX_PAYLOAD + 1;
    assert_int_equal(pt_session_new(&s, &cfg, &ck, 1, &st, &cp, &g_cbs, NULL, 0), PT_ERR_CONFIG);
    pt_session_config_default(&cfg);
    cfg.rekey_frames = 1ull << 32;
    assert_int_equal(pt_session_new(&s, &cfg, &ck, 1, &st, &cp, &g_cbs, NULL, 0), PT_ERR_CONFIG);
    bad = st;
    bad.stream_window = 0;
    assert_int_equal(pt_session_new(&s, NULL, &ck, 1, &bad, &cp, &g_cbs, NULL, 0), PT_ERR_CONFIG);
    assert_null(s);
    /* The largest payload works end to end. */
    pair p;
    pt_session_config_default(&cfg);
    cfg.max_payload = PT_FRAME_MAX_PAYLOAD;
    big_settings(&st);
    make_pair_ex(&p, &cfg, &cfg, &st, &st);
    p.sv.server_send = 3 * MIB;
    app_stream *a = client_open(&p, 3 * MIB, NULL);
    pump(&p);
    check_transfer(a, server_stream(&p, a->sid));
    pair_free(&p);
    pt_hs_keys_cleanup(&ck);
    pt_hs_keys_cleanup(&sk);
}

/* ---- receive-window auto-tuning (pt_session.h, PROTOCOL.md §8.2) ---------- */

/* One step of a link with one-way delay |owd| ms and no bandwidth limit:
 * what each side sent is delivered |owd| later, so a request and its answer
 * take two steps (one RTT). Also checks the §8.2 ceiling on every stream. */
static void step_rtt(pair *p, uint64_t owd)
{
    collect(&p->c, SIZE_MAX);
    collect(&p->sv, SIZE_MAX);
    p->now += owd;
    deliver(p, &p->c, &p->sv);
    deliver(p, &p->sv, &p->c);
    for (size_t i = 0; i < p->c.nstreams; i++) {
        pt_session_stream_info ci;
        if (pt_session_stream_get_info(p->c.s, p->c.streams[i]->sid, &ci) == PT_ERR_OK) {
            assert_true(ci.send_window <= (int64_t)PT_MAX_STREAM_WINDOW);
        }
    }
    for (size_t i = 0; i < p->sv.nstreams; i++) {
        pt_session_stream_info si;
        if (pt_session_stream_get_info(p->sv.s, p->sv.streams[i]->sid, &si) == PT_ERR_OK) {
            assert_true(si.recv_window <= si.recv_window_size);
            assert_true(si.recv_window_size <= PT_MAX_STREAM_WINDOW);
            assert_true((uint64_t)si.recv_window + si.unconsumed <= si.recv_window_size);
        }
    }
}

/* Upload |bytes| on one stream over a 50 ms RTT; returns the RTTs it took and
 * the receiver's final windows. */
static uint64_t upload_rtts(const pt_session_config *scfg, uint64_t bytes, uint32_t *stream_win,
                            uint32_t *conn_win)
{
    pair p;
    pt_hs_settings st;
    big_settings(&st);
    make_pair_ex(&p, NULL, scfg, &st, &st);
    app_stream *a = client_open(&p, bytes, NULL);
    uint64_t steps = 0;
    app_stream *b = NULL;
    *stream_win = 0;
    while (!a->closed && steps < 100000) {
        step_rtt(&p, 25);
        steps++;
        b = b ? b : server_stream(&p, a->sid);
        pt_session_stream_info si;
        if (b && pt_session_stream_get_info(p.sv.s, a->sid, &si) == PT_ERR_OK) {
            assert_true(si.recv_window_size >= *stream_win); /* monotone */
            *stream_win = si.recv_window_size;
        }
    }
    check_transfer(a, server_stream(&p, a->sid));
    pt_session_stats ss;
    pt_session_get_stats(p.sv.s, &ss);
    *conn_win = ss.conn_recv_window_size;
    assert_true(ss.rtt_ms == UINT64_MAX || ss.rtt_ms >= 50); /* never below the real RTT */
    assert_int_equal(p.c.last_rc, PT_ERR_OK);
    assert_int_equal(p.sv.last_rc, PT_ERR_OK);
    pair_free(&p);
    return steps / 2;
}

/* A window-limited stream grows: 64 MiB at 256 KiB per RTT would take 256
 * RTTs; auto-tuning needs a small fraction, and stops at the §8.2 cap. */
static void test_autotune_grows(void **state)
{
    (void)state;
    uint32_t sw, cw;
    uint64_t rtts = upload_rtts(NULL, 64ull * MIB, &sw, &cw);
    assert_true(sw > PT_DEFAULT_STREAM_WINDOW);
    assert_int_equal(sw, PT_MAX_STREAM_WINDOW); /* the cap holds */
    assert_true(rtts < (64 * MIB / PT_DEFAULT_STREAM_WINDOW) / 8);
    assert_true(cw > sw); /* connection > any stream */
    assert_true(cw <= 64 * MIB);
    print_message("autotune: 64 MiB in %llu RTTs (fixed window: %u), stream window %u, conn %u\n",
                  (unsigned long long)rtts, 64 * MIB / PT_DEFAULT_STREAM_WINDOW, sw, cw);
}

/* Cover traffic (§9.2): off by default; when on, an idle session sends one
 * PADDING frame after a random 1/2..3/2 of the interval without sending,
 * never while its output is unwritten, and any frame starts a new gap. */
static void test_cover_traffic(void **state)
{
    (void)state;
    pt_session_config def;
    pt_session_config_default(&def);
    assert_int_equal(def.cover_interval_ms, 0);

    pt_session_config ccfg = def;
    ccfg.cover_interval_ms = 10000;
    ccfg.keepalive_interval_ms = 0; /* only cover traffic sets the client's deadline */
    ccfg.rekey_ms = 0;
    pt_hs_settings st;
    big_settings(&st);
    pair p;
    make_pair_ex(&p, &ccfg, NULL, &st, &st);
    pump(&p);
    /* The server (cover off) has only its keepalive deadline. */
    assert_int_equal(pt_session_next_deadline(p.sv.s), p.now + 30000);

    uint64_t gaps[24], gmin = UINT64_MAX, gmax = 0;
    for (int i = 0; i < 24; i++) {
        uint64_t start = p.now;
        uint64_t d = pt_session_next_deadline(p.c.s);
        assert_true(d >= start + 5001 && d <= start + 15000);
        /* One millisecond early: nothing. */
        p.now = d - 1;
        assert_int_equal(pt_session_on_timer(p.c.s, p.now), PT_ERR_OK);
        struct iovec iov[4];
        assert_int_equal(pt_session_pending_output(p.c.s, iov, 4), 0);
        /* On time: one PADDING frame, and no cover deadline while it is unwritten. */
        p.now = d;
        assert_int_equal(pt_session_on_timer(p.c.s, p.now), PT_ERR_OK);
        size_t n = pt_session_pending_output(p.c.s, iov, 4); /* handed out (in flight) */
        assert_int_equal(n, 1);
        assert_true(iov[0].iov_len <= 2 + PT_FRAME_OVERHEAD + PT_SESSION_COVER_MAX_PAYLOAD +
                                          PT_FRAME_MAX_PAD);
        assert_int_equal(pt_session_next_deadline(p.c.s), UINT64_MAX);
        assert_int_equal(pt_session_on_timer(p.c.s, p.now), PT_ERR_OK);
        assert_int_equal(pt_session_pending_output(p.c.s, iov, 4), 0); /* nothing more */
        wire_append(&p.c, iov[0].iov_base, iov[0].iov_len);
        pt_session_output_written(p.c.s, iov[0].iov_len);
        pump(&p);
        gaps[i] = d - start;
        gmin = gaps[i] < gmin ? gaps[i] : gmin;
        gmax = gaps[i] > gmax ? gaps[i] : gmax;
    }
    pt_session_stats cs, ss;
    pt_session_get_stats(p.c.s, &cs);
    pt_session_get_stats(p.sv.s, &ss);
    assert_int_equal(cs.cover_frames_sent, 24);
    assert_int_equal(ss.frames_received, 24); /* the server took every one and ignored it */
    assert_int_equal(ss.cover_frames_sent, 0);
    assert_int_equal(ss.pings_sent, 0); /* cover traffic kept it from going quiet */
    assert_true(gmax - gmin >= 1000);    /* not a fixed period */

    /* Traffic restarts the gap: the next cover frame is a full gap after it. */
    app_stream *a = client_open(&p, 1000, NULL);
    a->no_shutdown = 1;
    p.sv.server_no_shutdown = 1;
    p.now += 3000;
    pump(&p);
    assert_true(a->opened);
    uint64_t d = pt_session_next_deadline(p.c.s);
    assert_true(d >= p.now + 5001 - 3000 && d <= p.now + 15000);
    assert_false(pt_session_is_closed(p.c.s));
    assert_false(pt_session_is_closed(p.sv.s));
    pair_free(&p);
}

/* cfg.window_autotune = 0 keeps the announced windows. */
static void test_autotune_off(void **state)
{
    (void)state;
    pt_session_config cfg;
    pt_session_config_default(&cfg);
    assert_int_equal(cfg.window_autotune, 1); /* default on */
    cfg.window_autotune = 0;
    uint32_t sw, cw;
    uint64_t rtts = upload_rtts(&cfg, 8 * MIB, &sw, &cw);
    assert_int_equal(sw, PT_DEFAULT_STREAM_WINDOW);
    assert_int_equal(cw, 16 * MIB);
    assert_true(rtts >= 8 * MIB / PT_DEFAULT_STREAM_WINDOW);
}

/* A reader that never consumes never grows its window, however long the
 * RTT-paced transfer runs; one that grew and then stops holds at most its
 * grown window. */
static void test_autotune_slow_reader(void **state)
{
    (void)state;
    pair p;
    pt_hs_settings st;
    big_settings(&st);
    make_pair_ex(&p, NULL, NULL, &st, &st);
    p.sv.incoming_slow = 1;
    app_stream *slow = client_open(&p, 64 * MIB, NULL);
    slow->no_shutdown = 1;
    app_stream *fast = client_open(&p, 256 * MIB, NULL);
    fast->no_shutdown = 1;
    for (int i = 0; i < 40; i++) {
        step_rtt(&p, 25);
        if (i == 0) {
            app_stream *fb0 = server_stream(&p, fast->sid); /* only |slow| stalls */
            fb0->slow = 0;
            APP_CHECK(pt_session_stream_consumed(p.sv.s, fast->sid, fb0->unconsumed));
            fb0->unconsumed = 0;
        }
    }
    pt_session_stream_info si;
    assert_int_equal(pt_session_stream_get_info(p.sv.s, slow->sid, &si), PT_ERR_OK);
    assert_int_equal(si.recv_window_size, PT_DEFAULT_STREAM_WINDOW);
    assert_int_equal(si.unconsumed, PT_DEFAULT_STREAM_WINDOW);
    assert_int_equal(server_stream(&p, slow->sid)->received, PT_DEFAULT_STREAM_WINDOW);
    /* The fast one grew meanwhile; now its reader stops too. */
    app_stream *fb = server_stream(&p, fast->sid);
    assert_int_equal(pt_session_stream_get_info(p.sv.s, fast->sid, &si), PT_ERR_OK);
    assert_true(si.recv_window_size > PT_DEFAULT_STREAM_WINDOW);
    fb->slow = 1;
    for (int i = 0; i < 40; i++) {
        step_rtt(&p, 25);
    }
    assert_int_equal(pt_session_stream_get_info(p.sv.s, fast->sid, &si), PT_ERR_OK);
    uint32_t held = si.recv_window_size;
    assert_true(fb->unconsumed <= held);
    for (int i = 0; i < 40; i++) {
        step_rtt(&p, 25);
    }
    assert_int_equal(pt_session_stream_get_info(p.sv.s, fast->sid, &si), PT_ERR_OK);
    assert_int_equal(si.recv_window_size, held); /* no growth without consumption */
    assert_true(fb->unconsumed <= held);
    assert_int_equal(p.c.last_rc, PT_ERR_OK);
    assert_int_equal(p.sv.last_rc, PT_ERR_OK);
    pair_free(&p);
}

/* A keepalive PING's PONG gives the RTT estimate (sample: PING sent ->
 * PONG received). */
static void test_autotune_rtt_from_pong(void **state)
{
    (void)state;
    pair p;
    make_pair(&p);
    app_stream *a = client_open(&p, 0, NULL);
    a->no_shutdown = 1;
    p.sv.server_no_shutdown = 1;
    pump(&p);
    pt_session_stats cs;
    pt_session_get_stats(p.c.s, &cs);
    assert_true(cs.rtt_ms == UINT64_MAX); /* no sample yet */
    p.now += 30000;
    assert_int_equal(pt_session_on_timer(p.c.s, p.now), PT_ERR_OK); /* PING */
    step_rtt(&p, 40);                                               /* -> server */
    step_rtt(&p, 40);                                               /* PONG -> */
    pt_session_get_stats(p.c.s, &cs);
    assert_int_equal(cs.pings_sent, 1);
    assert_int_equal(cs.rtt_ms, 80);
    pair_free(&p);
}

int main(void)
{
    if (sodium_init() < 0) {
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_accept_reject),
        cmocka_unit_test(test_data_chunking),
        cmocka_unit_test(test_default_windows),
        cmocka_unit_test(test_default_windows_isolate_slow_reader),
        cmocka_unit_test(test_half_close),
        cmocka_unit_test(test_reset_mid_transfer),
        cmocka_unit_test(test_refused_beyond_max_streams),
        cmocka_unit_test(test_stream_ids),
        cmocka_unit_test(test_goaway_drain),
        cmocka_unit_test(test_keepalive),
        cmocka_unit_test(test_cover_traffic),
        cmocka_unit_test(test_idle_stream_timeout),
        cmocka_unit_test(test_peer_violates_windows),
        cmocka_unit_test(test_pong_first_and_fairness),
        cmocka_unit_test(test_corrupted_byte),
        cmocka_unit_test(test_rekey),
        cmocka_unit_test(test_reserve_commit),
        cmocka_unit_test(test_padding_policies),
        cmocka_unit_test(test_optimistic_data),
        cmocka_unit_test(test_close_from_callback),
        cmocka_unit_test(test_free_busy),
        cmocka_unit_test(test_config_checks),
        cmocka_unit_test(test_failmalloc),
        cmocka_unit_test(test_slow_reader),
        cmocka_unit_test(test_many_streams),
        cmocka_unit_test(test_autotune_grows),
        cmocka_unit_test(test_autotune_off),
        cmocka_unit_test(test_autotune_slow_reader),
        cmocka_unit_test(test_autotune_rtt_from_pong),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(g_src);
    return rc;
}
