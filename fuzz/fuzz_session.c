/* fuzz_session.c — libFuzzer target for the session state machine
 * (core/pt_session.c) past the AEAD.
 *
 * The session under test (client or server) gets frame keys derived from
 * fixed bytes; the fuzzer plays the peer with the matching keys, so every
 * frame it builds is authenticated and reaches the stream, flow-control,
 * GOAWAY and keepalive logic. It also plays the session's application,
 * interleaving stream calls and timer ticks with the peer's frames.
 *
 * Input: a 6-byte header, then operations until the input runs out.
 *   hdr[0] bit 0: session is the client; bit 1: in-place input path;
 *          bit 2: consume from inside on_stream_data; bit 3: server accepts
 *          at once; bit 4: chaos (callbacks reset/close/echo on data bytes);
 *          bits 5-7: padding strategy
 *   hdr[1..2] the session's own settings (windows, max streams), hdr[3..4]
 *          the peer's (hdr[4] bits 3-7: cover traffic on, its interval),
 *          hdr[5] config (max payload, output budget, rekey)
 *   op(1) = op % 14:
 *     0,1,2 peer frame: type(1) sid(1|3) len(2) payload...  (2 = chunked)
 *     3 open   4 write   5 consumed   6 reset   7 shutdown   8 accept/reject
 *     9 timer tick   10 pull output (peer reads it)   11 goaway
 *     12 reserve/commit   13 close / garbage bytes (rare)
 *
 * Oracles (abort on violation): every byte the session emits opens with the
 * peer's keys in order (rekeys included); DATA never exceeds the windows the
 * peer granted (an independent model of §8); the application never holds
 * more unconsumed bytes than the windows it announced; on_stream_closed
 * fires once per stream and nothing for that stream follows it; on_closed
 * fires once, last; memory stays within the configured pool.
 *
 * Under PT_FUZZING_BUILD the CSPRNG is a generator reset for every input,
 * so a crash reproduces (PING payloads, padding, the hash key).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <sodium.h>

#include "pt_addr.h"
#include "pt_cbs.h"
#include "pt_err.h"
#include "pt_frame.h"
#include "pt_handshake.h"
#include "pt_session.h"
#include "pt_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define MAX_OPS 400
#define TRACK 512 /* streams the oracles follow (open addressing) */
#define PEER_IN_MAX (8u << 20)

static const uint8_t K_C2S[32] = "phantom-tunnel fuzz c->s key 01";
static const uint8_t K_S2C[32] = "phantom-tunnel fuzz s->c key 02";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    pt_fuzz_init();
    return 0;
}

/* ---- input reader ------------------------------------------------------- */

typedef struct rd {
    const uint8_t *p;
    size_t len;
} rd;

static uint8_t rd_u8(rd *r)
{
    if (r->len == 0) {
        return 0;
    }
    r->len--;
    return *r->p++;
}

static uint16_t rd_u16(rd *r)
{
    uint16_t hi = rd_u8(r);
    return (uint16_t)(hi << 8 | rd_u8(r));
}

static uint32_t rd_u24(rd *r)
{
    uint32_t v = rd_u8(r);
    v = v << 8 | rd_u8(r);
    return v << 8 | rd_u8(r);
}

/* Copy up to |n| input bytes into |out|, zero the rest. */
static void rd_fill(rd *r, uint8_t *out, size_t n)
{
    size_t k = n < r->len ? n : r->len;
    memcpy(out, r->p, k);
    memset(out + k, 0, n - k);
    r->p += k;
    r->len -= k;
}

/* ---- the world of one input --------------------------------------------- */

typedef struct tstream {
    uint32_t sid; /* 0: free slot */
    int closed;   /* on_stream_closed seen */
    uint64_t unconsumed;
    uint64_t sent;    /* DATA payload the session sent on it */
    uint64_t granted; /* window the peer granted for it */
} tstream;

typedef struct world {
    pt_session *s;
    int is_client;
    int inplace, consume_in_cb, accept_now, chaos;
    pt_hs_settings local, peer;
    pt_frame_dir peer_tx;
    pt_frame_opener peer_rx;
    uint64_t now;
    int closed_calls;
    tstream t[TRACK];
    uint64_t conn_sent, conn_granted;
    uint64_t unconsumed_total;
    uint8_t *peer_in;
    size_t peer_in_len;
    size_t handed; /* handed out by pending_output, not yet released */
    uint32_t sids[16];
    size_t nsids;
    size_t block_budget;
} world;

static world W;
static uint8_t g_buf[PT_FRAME_MAX_WIRE];
static uint8_t g_payload[PT_FRAME_MAX_PAYLOAD];

static tstream *track(uint32_t sid, int create)
{
    size_t h = (sid * 2654435761u) % TRACK;
    for (size_t i = 0; i < TRACK; i++) {
        tstream *t = &W.t[(h + i) % TRACK];
        if (t->sid == sid) {
            return t;
        }
        if (t->sid == 0) {
            if (!create) {
                return NULL;
            }
            memset(t, 0, sizeof(*t));
            t->sid = sid;
            t->granted = W.peer.stream_window;
            return t;
        }
    }
    return NULL; /* table full: stop following new streams */
}

static void remember_sid(uint32_t sid)
{
    W.sids[W.nsids % 16] = sid;
    W.nsids++;
}

static uint32_t pick_sid(rd *r)
{
    uint8_t v = rd_u8(r);
    if (W.nsids > 0 && (v & 0x80) == 0) {
        size_t n = W.nsids < 16 ? W.nsids : 16;
        return W.sids[v % n];
    }
    return v & 0x7f;
}

/* ---- callbacks ---------------------------------------------------------- */

static void live(uint32_t sid)
{
    CHECK(W.closed_calls == 0);
    tstream *t = track(sid, 1);
    if (t) {
        CHECK(!t->closed);
    }
}

static void cb_incoming(pt_session *s, void *user, uint32_t sid, const pt_addr *target,
                        void **stream_user)
{
    CHECK(!W.is_client);
    CHECK(sid & 1);
    live(sid);
    remember_sid(sid);
    *stream_user = &W;
    char txt[300];
    pt_addr_format(target, txt, sizeof(txt)); /* exercises the decoded address */
    if (W.accept_now) {
        pt_session_stream_accept(s, sid, NULL);
    }
}

static void cb_opened(pt_session *s, void *user, uint32_t sid, void *su, const pt_addr *bound)
{
    CHECK(W.is_client && (sid & 1));
    live(sid);
}

static void cb_code(pt_session *s, void *user, uint32_t sid, void *su, uint32_t code)
{
    CHECK(code <= PT_WIRE_IDLE_TIMEOUT); /* unknown codes arrive as INTERNAL_ERROR */
    tstream *t = track(sid, 1);
    if (t) {
        CHECK(!t->closed);
    }
}

static void cb_data(pt_session *s, void *user, uint32_t sid, void *su, const uint8_t *p, size_t n)
{
    live(sid);
    CHECK(n > 0);
    tstream *t = track(sid, 1);
    W.unconsumed_total += n;
    if (t) {
        t->unconsumed += n;
        CHECK(t->unconsumed <= W.local.stream_window); /* §8.3 enforced */
    }
    CHECK(W.unconsumed_total <= W.local.conn_window);
    if (W.chaos) {
        switch (p[0]) {
        case 'R':
            pt_session_stream_reset(s, sid, PT_WIRE_CANCEL);
            return;
        case 'C':
            pt_session_close(s, PT_ERR_OK);
            return;
        case 'E': {
            size_t acc;
            pt_session_stream_write(s, sid, p, n, &acc); /* echo, re-entrant */
            break;
        }
        case 'S':
            pt_session_stream_shutdown(s, sid);
            break;
        default:
            break;
        }
    }
    if (W.consume_in_cb && t && pt_session_stream_consumed(s, sid, n) == PT_ERR_OK) {
        t->unconsumed -= n;
        W.unconsumed_total -= n;
    }
}

static void cb_event(pt_session *s, void *user, uint32_t sid, void *su)
{
    live(sid);
}

static void cb_closed(pt_session *s, void *user, uint32_t sid, void *su)
{
    CHECK(W.closed_calls == 0);
    tstream *t = track(sid, 1);
    if (t) {
        CHECK(!t->closed);
        t->closed = 1;
        /* Its unconsumed bytes went back to the connection. */
        W.unconsumed_total -= t->unconsumed;
        t->unconsumed = 0;
    }
    size_t acc;
    CHECK(pt_session_stream_write(s, sid, (const uint8_t *)"x", 1, &acc) == PT_ERR_STREAM_CLOSED);
}

static void cb_goaway(pt_session *s, void *user, uint32_t last, uint32_t code)
{
    CHECK(W.closed_calls == 0);
    CHECK(last <= PT_STREAM_ID_MAX);
}

static void cb_session_closed(pt_session *s, void *user, int err)
{
    CHECK(W.closed_calls == 0);
    W.closed_calls++;
    CHECK(pt_session_is_closed(s));
    for (size_t i = 0; i < TRACK; i++) {
        /* Every stream heard of its end before the session's. */
        if (W.t[i].sid && !W.t[i].closed) {
            pt_session_stream_info info;
            CHECK(pt_session_stream_get_info(s, W.t[i].sid, &info) == PT_ERR_STREAM_CLOSED);
        }
    }
}

static const pt_session_callbacks CALLBACKS = {
    .on_stream_incoming = cb_incoming,
    .on_stream_opened = cb_opened,
    .on_stream_failed = cb_code,
    .on_stream_data = cb_data,
    .on_stream_fin = cb_event,
    .on_stream_reset = cb_code,
    .on_stream_writable = cb_event,
    .on_stream_closed = cb_closed,
    .on_goaway = cb_goaway,
    .on_closed = cb_session_closed,
};

/* ---- the peer ----------------------------------------------------------- */

/* Open everything the session handed out so far, in order. */
static void peer_read(void)
{
    size_t off = 0;
    for (;;) {
        size_t used = 0;
        pt_frame_hdr h;
        uint8_t *pl;
        int rc = pt_frame_open(&W.peer_rx, W.peer_in + off, W.peer_in_len - off, &used, &h, &pl);
        if (rc == PT_ERR_AGAIN) {
            break;
        }
        CHECK(rc == PT_ERR_OK); /* the session only ever sends valid frames */
        off += used;
        if (h.type == PT_FRAME_DATA) {
            CHECK(h.stream_id != 0 && h.payload_len > 0);
            CHECK(h.stream_id & 1); /* version 1: every stream is client-opened */
            W.conn_sent += h.payload_len;
            CHECK(W.conn_sent <= W.conn_granted); /* §8.1 */
            tstream *t = track(h.stream_id, 0);
            if (t) {
                t->sent += h.payload_len;
                CHECK(t->sent <= t->granted);
            }
        } else if (h.type == PT_FRAME_WINDOW_UPDATE) {
            CHECK(pt_frame_window_increment(pl) <= PT_MAX_CONN_WINDOW);
        } else if (h.type == PT_FRAME_PADDING) {
            /* only cover traffic sends PADDING frames (§9.2) */
            CHECK(h.stream_id == 0 && h.payload_len <= PT_SESSION_COVER_MAX_PAYLOAD);
        }
    }
    memmove(W.peer_in, W.peer_in + off, W.peer_in_len - off);
    W.peer_in_len -= off;
}

static void pull_output(size_t release_hint)
{
    struct iovec iov[8];
    size_t n = pt_session_pending_output(W.s, iov, 8);
    for (size_t i = 0; i < n; i++) {
        CHECK(iov[i].iov_len > 0);
        CHECK(W.peer_in_len + iov[i].iov_len <= PEER_IN_MAX);
        memcpy(W.peer_in + W.peer_in_len, iov[i].iov_base, iov[i].iov_len);
        W.peer_in_len += iov[i].iov_len;
        W.handed += iov[i].iov_len;
    }
    peer_read();
    size_t rel = release_hint == SIZE_MAX ? W.handed : release_hint % (W.handed + 1);
    pt_session_output_written(W.s, rel);
    W.handed -= rel;
    pt_session_stats st;
    pt_session_get_stats(W.s, &st);
    CHECK(st.blocks_in_use <= W.block_budget);
    CHECK(st.output_queued >= W.handed); /* handed-out bytes stay queued until released */
}

static void feed(const uint8_t *wire, size_t len, size_t split)
{
    size_t cut = split % (len + 1);
    const size_t parts[2][2] = {{0, cut}, {cut, len - cut}};
    for (int i = 0; i < 2; i++) {
        size_t off = parts[i][0], n = parts[i][1];
        if (n == 0) {
            continue;
        }
        if (W.inplace) {
            uint8_t *copy = malloc(n); /* exact size: ASan sees overreads */
            CHECK(copy);
            memcpy(copy, wire + off, n);
            pt_session_on_bytes_inplace(W.s, copy, n, W.now);
            free(copy);
        } else {
            pt_session_on_bytes(W.s, wire + off, n, W.now);
        }
    }
}

/* Model the windows the session may use after the peer credited them. */
static void model_window_update(uint32_t sid, uint32_t inc)
{
    if (sid == 0) {
        W.conn_granted += inc;
    } else {
        tstream *t = track(sid, 1);
        if (t) {
            t->granted += inc;
        }
    }
}

static void op_peer_frame(rd *r, int chunked)
{
    uint8_t type = rd_u8(r) % (PT_FRAME_TYPE_MAX + 1);
    uint8_t s0 = rd_u8(r);
    uint32_t sid;
    if (s0 & 0x80) {
        sid = rd_u24(r);
    } else if (s0 & 0x40 && W.nsids) {
        sid = W.sids[s0 % (W.nsids < 16 ? W.nsids : 16)];
    } else {
        sid = s0 & 0x3f;
    }
    uint16_t lsel = rd_u16(r);
    size_t len;
    /* Mostly well-formed payloads so frames get past §6.3 into the session. */
    int raw_len = (lsel & 0x8000) != 0;
    switch (type) {
    case PT_FRAME_WINDOW_UPDATE:
    case PT_FRAME_STREAM_CLOSE:
        len = raw_len ? lsel % 9 : (type == PT_FRAME_STREAM_CLOSE && (lsel & 1) ? 0 : 4);
        break;
    case PT_FRAME_PING:
    case PT_FRAME_PONG:
    case PT_FRAME_GOAWAY:
        len = raw_len ? lsel % 12 : 8;
        break;
    case PT_FRAME_KEY_UPDATE:
        len = raw_len ? lsel % 3 : 0;
        break;
    case PT_FRAME_STREAM_OPEN:
        len = raw_len ? lsel % 300 : 7;
        break;
    default:
        len = (lsel & 0x4000) ? lsel % (PT_FRAME_MAX_PAYLOAD + 1) : lsel % 3000;
        break;
    }
    rd_fill(r, g_payload, len);
    if (type == PT_FRAME_STREAM_OPEN && !raw_len) {
        g_payload[0] = PT_ADDR_IPV4; /* 4 bytes of address, 2 of port follow */
    }
    if (type == PT_FRAME_WINDOW_UPDATE && len == 4 && !raw_len) {
        g_payload[0] &= 0x0f; /* mostly modest increments */
    }
    size_t wl = 0;
    uint8_t pad = rd_u8(r) & 0x1f;
    if (pt_frame_seal_raw(&W.peer_tx, g_buf, sizeof(g_buf), &wl, type, sid, g_payload, len, NULL,
                          pad) != PT_ERR_OK) {
        return;
    }
    int was_closed = pt_session_is_closed(W.s);
    feed(g_buf, wl, chunked ? rd_u16(r) : wl);
    if (!was_closed && type == PT_FRAME_WINDOW_UPDATE && len == 4) {
        /* Upper bound: the credit counts if the session accepted it. */
        model_window_update(sid, pt_frame_window_increment(g_payload));
    }
    if (type == PT_FRAME_STREAM_OPEN) {
        remember_sid(sid);
    }
}

static void op_open(rd *r)
{
    pt_addr a;
    uint8_t v = rd_u8(r);
    memset(&a, 0, sizeof(a));
    if (v & 1) {
        a.type = PT_ADDR_IPV4;
        a.port = rd_u16(r);
    } else {
        char host[16];
        snprintf(host, sizeof(host), "h%u.example", v);
        pt_addr_set_domain(&a, host, 443);
    }
    uint32_t sid = 0;
    if (pt_session_stream_open(W.s, &a, &W, &sid) == PT_ERR_OK) {
        CHECK(W.is_client && (sid & 1));
        remember_sid(sid);
        track(sid, 1);
    }
}

static void op_write(rd *r)
{
    uint32_t sid = pick_sid(r);
    size_t n = rd_u16(r) % 40000;
    size_t acc = 0;
    int rc = pt_session_stream_write(W.s, sid, g_payload, n, &acc);
    CHECK(acc <= n);
    CHECK(rc != PT_ERR_FLOW_BLOCKED || acc == 0);
}

static void op_consumed(rd *r)
{
    uint32_t sid = pick_sid(r);
    uint8_t how = rd_u8(r);
    tstream *t = track(sid, 0);
    uint64_t have = t ? t->unconsumed : 0;
    uint64_t n = how & 0x80 ? how : (have * (how & 0x7f)) / 127;
    int rc = pt_session_stream_consumed(W.s, sid, (size_t)n);
    if (rc == PT_ERR_OK && t) {
        CHECK(n <= t->unconsumed);
        t->unconsumed -= n;
        W.unconsumed_total -= n;
    }
}

static void op_reserve(rd *r)
{
    uint32_t sid = pick_sid(r);
    uint8_t *p;
    size_t max;
    if (pt_session_stream_reserve(W.s, sid, &p, &max) != PT_ERR_OK) {
        return;
    }
    CHECK(max >= 1);
    size_t n = rd_u16(r) % (max + 1);
    memset(p, 0xab, n); /* ASan: the whole reservation is writable */
    memset(p, 0xcd, max);
    if (rd_u8(r) & 1) {
        pull_output(SIZE_MAX); /* sealing must not touch the reservation */
    }
    CHECK(pt_session_stream_commit(W.s, sid, n) == PT_ERR_OK);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t windows[8] = {1, 7, 100, 1000, 16000, 65536, 262144, 16777215};
    static const uint32_t conns[8] = {1, 50, 1000, 20000, 262144, 1u << 20, 16u << 20, 0x7fffffffu};
    static const uint32_t maxs[8] = {0, 1, 2, 3, 8, 100, 1024, 8388608};
    if (size < 6) {
        return 0;
    }
    pt_fuzz_rng_reset();
    rd in = {data, size};
    memset(&W, 0, sizeof(W));
    uint8_t h0 = rd_u8(&in), h1 = rd_u8(&in), h2 = rd_u8(&in), h3 = rd_u8(&in), h4 = rd_u8(&in),
            h5 = rd_u8(&in);
    W.is_client = h0 & 1;
    W.inplace = (h0 >> 1) & 1;
    W.consume_in_cb = (h0 >> 2) & 1;
    W.accept_now = (h0 >> 3) & 1;
    W.chaos = (h0 >> 4) & 1;
    W.local.stream_window = windows[h1 & 7];
    W.local.conn_window = conns[(h1 >> 3) & 7];
    W.local.max_streams = maxs[h2 & 7];
    W.peer.stream_window = windows[h3 & 7];
    W.peer.conn_window = conns[(h3 >> 3) & 7];
    W.peer.max_streams = maxs[h4 & 7];
    W.conn_granted = W.peer.conn_window;
    W.now = 1000;

    pt_session_config cfg;
    pt_session_config_default(&cfg);
    cfg.pad.strategy = (pt_pad_strategy)((h0 >> 5) % 4);
    static const size_t payloads[4] = {1, 100, PT_SESSION_DEFAULT_MAX_PAYLOAD,
                                       PT_FRAME_MAX_PAYLOAD};
    cfg.max_payload = payloads[h5 & 3];
    cfg.max_output_queued = (h5 & 4) ? 300 : 256u * 1024;
    cfg.rekey_frames = (h5 & 8) ? 2 + (h5 >> 4) : 1ull << 28;
    cfg.max_buffer_bytes = (h2 & 8) ? 64u * 1024 : 2u * 1024 * 1024;
    cfg.stream_send_buffer = (h2 & 16) ? 1000 : 256u * 1024;
    cfg.rekey_ms = 100000;
    cfg.cover_interval_ms = (h4 & 8) ? 1 + (uint64_t)(h4 >> 4) * 700 : 0;
    {
        size_t bs = PT_FRAME_PAYLOAD_OFFSET + cfg.max_payload + PT_FRAME_MAX_PAD + PT_FRAME_TAG_LEN;
        if (bs < PT_FRAME_OVERHEAD + PT_ADDR_MAX_ENCODED + PT_FRAME_MAX_PAD) {
            bs = PT_FRAME_OVERHEAD + PT_ADDR_MAX_ENCODED + PT_FRAME_MAX_PAD;
        }
        size_t blocks = cfg.max_buffer_bytes / bs;
        W.block_budget = blocks > 12 ? blocks : 12;
    }

    /* Keys: the session gets its direction pair, the peer the mirror. */
    pt_hs_keys keys;
    memset(&keys, 0, sizeof(keys));
    const uint8_t *k_tx = W.is_client ? K_C2S : K_S2C;
    const uint8_t *k_rx = W.is_client ? K_S2C : K_C2S;
    CHECK(pt_frame_dir_init(&keys.tx, PT_AEAD_BORINGSSL, k_tx) == PT_ERR_OK);
    CHECK(pt_frame_opener_init(&keys.rx, PT_AEAD_BORINGSSL, k_rx) == PT_ERR_OK);
    CHECK(pt_frame_dir_init(&W.peer_tx, PT_AEAD_BORINGSSL, k_rx) == PT_ERR_OK);
    CHECK(pt_frame_opener_init(&W.peer_rx, PT_AEAD_BORINGSSL, k_tx) == PT_ERR_OK);
    CHECK(pt_session_new(&W.s, &cfg, &keys, W.is_client, &W.local, &W.peer, &CALLBACKS, &W,
                         W.now) == PT_ERR_OK);
    W.peer_in = malloc(PEER_IN_MAX);
    CHECK(W.peer_in);

    for (int ops = 0; ops < MAX_OPS && in.len > 0; ops++) {
        uint8_t op = rd_u8(&in) % 14;
        switch (op) {
        case 0:
        case 1:
            op_peer_frame(&in, 0);
            break;
        case 2:
            op_peer_frame(&in, 1);
            break;
        case 3:
            op_open(&in);
            break;
        case 4:
            op_write(&in);
            break;
        case 5:
            op_consumed(&in);
            break;
        case 6:
            pt_session_stream_reset(W.s, pick_sid(&in), rd_u8(&in) % 20);
            break;
        case 7:
            pt_session_stream_shutdown(W.s, pick_sid(&in));
            break;
        case 8: {
            uint32_t sid = pick_sid(&in);
            uint8_t code = rd_u8(&in) % 20;
            if (code == 0) {
                pt_session_stream_accept(W.s, sid, NULL);
            } else {
                pt_session_stream_reject(W.s, sid, code);
            }
            break;
        }
        case 9: {
            W.now += (uint64_t)rd_u16(&in) * 100;
            uint64_t d = pt_session_next_deadline(W.s);
            if (rd_u8(&in) & 1 && d != UINT64_MAX && d > W.now) {
                W.now = d; /* jump straight to the deadline */
            }
            pt_session_on_timer(W.s, W.now);
            break;
        }
        case 10: {
            uint16_t v = rd_u16(&in);
            pull_output(v & 1 ? SIZE_MAX : v);
            break;
        }
        case 11:
            pt_session_goaway(W.s, rd_u8(&in) % 20);
            break;
        case 12:
            op_reserve(&in);
            break;
        default: {
            uint8_t v = rd_u8(&in);
            if (v == 0xc1) {
                pt_session_close(W.s, PT_ERR_PROTO);
            } else if (v == 0xc2) {
                uint8_t junk[64];
                rd_fill(&in, junk, sizeof(junk));
                feed(junk, sizeof(junk), sizeof(junk)); /* fails the tag */
            }
            break;
        }
        }
    }
    for (int i = 0; i < 64 && (W.handed || pt_session_want_write(W.s)); i++) {
        pull_output(SIZE_MAX);
    }
    pt_session_free(W.s);
    pt_frame_dir_cleanup(&W.peer_tx);
    pt_frame_opener_cleanup(&W.peer_rx);
    free(W.peer_in);
    return 0;
}
